select customer_id, prediction as will_churn, probability as churn_probability
from {{ quarry.predict(ref('churn_model'), ref('scoring_batch')) }}
