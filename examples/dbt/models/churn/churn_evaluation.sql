select metric, value, ci_lower, ci_upper
from {{ quarry.evaluate(ref('churn_model'), ref('scoring_batch')) }}
