-- Why the riskiest hundred are at risk: each one's three largest contributions.
select customer_id, explanation
from {{ quarry.explain(ref('churn_model'),
                       'select * from ' ~ ref('scoring_batch') ~ ' order by monthly_fee desc limit 100', 3) }}
