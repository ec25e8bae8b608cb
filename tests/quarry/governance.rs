//! The governance walkthrough (`sql/examples/governance.sql`) run as the
//! people in it: each section on a connection logged in with that user's
//! own password, each statement marked `-- refused: <SQLSTATE>` failing
//! with that code and every other succeeding; then every claim the
//! walkthrough makes is checked, the audit log's included.

use std::collections::HashMap;

use quarry::Config;
use quarry_test_macros::quarry_test;
use tokio_postgres::Client;

use crate::harness::{TestServer, connect, repo_root, scalar, sqlstate, texts};

const ROOT_PASSWORD: &str = "root-walkthrough";
/// What the audit log writes for a literal password.
const REDACTED: &str = "'********'";

/// A statement of the walkthrough: its text, the SQLSTATE it must fail
/// with (`None`: it must succeed).
struct Step {
    sql: String,
    refused: Option<String>,
}

fn steps(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut current = String::new();
    let mut refused = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(code) = trimmed.strip_prefix("-- refused:") {
            refused = Some(code.trim().to_string());
            continue;
        }
        if trimmed.starts_with("--") || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            steps.push(Step {
                sql: current.trim().trim_end_matches(';').to_string(),
                refused: refused.take(),
            });
            current.clear();
        }
    }
    steps
}

/// The passwords the walkthrough gives its users.
fn passwords(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    out.insert("quarry".to_string(), ROOT_PASSWORD.to_string());
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("CREATE USER ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(user), Some("PASSWORD")) = (words.next(), words.next()) else {
            continue;
        };
        if let Some(password) = rest.split('\'').nth(1) {
            out.insert(user.to_string(), password.to_string());
        }
    }
    out
}

#[quarry_test]
async fn the_governance_walkthrough_holds_for_each_user() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = Config::for_data_dir(dir.path());
    config.demo = true;
    config.password = Some(ROOT_PASSWORD.into());
    let server = TestServer::with_config(config).await;
    let text = std::fs::read_to_string(repo_root().join("sql/examples/governance.sql"))
        .expect("walkthrough exists");
    let passwords = passwords(&text);
    let steps = steps(&text);
    assert!(steps.len() > 40, "{} statements", steps.len());

    let login = |user: &str| {
        let password = passwords
            .get(user)
            .unwrap_or_else(|| panic!("no password for {user}"));
        format!("{} password='{password}'", server.url(user))
    };
    let mut client: Option<Client> = None;
    let mut user = String::new();
    let mut ran: Vec<(String, String)> = Vec::new();
    for step in &steps {
        if let Some(role) = step.sql.strip_prefix("SET ROLE ") {
            // The section's user logs in with their own password.
            user = role.trim().to_string();
            client = Some(connect(&login(&user)).await);
        }
        let c = client
            .as_ref()
            .expect("the walkthrough starts with SET ROLE");
        let result = c.simple_query(&step.sql).await;
        match (&step.refused, result) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{user}: {}\nfailed: {e:?}", step.sql),
            (Some(code), Err(e)) => assert_eq!(&sqlstate(&e), code, "{user}: {}", step.sql),
            (Some(code), Ok(_)) => panic!("{user}: {}\nsucceeded; expected {code}", step.sql),
        }
        ran.push((user.clone(), step.sql.clone()));
    }

    let admin = connect(&login("quarry")).await;
    // The analyst's refusals are the walkthrough's own (checked above);
    // the data scientist trained on the view, not on customers.
    assert_eq!(
        texts(
            &admin,
            "SELECT created_by || ' ' || training_query FROM ml_model_versions WHERE model = 'churn_governed'"
        )
        .await,
        [Some("dan SELECT * FROM customers_pseudo".to_string())]
    );
    // Ten-year bands left a few customers alone in their group; the
    // top-coded bands the model was trained on do not.
    let k: i64 = scalar(
        &admin,
        "SELECT k FROM ml_k_anonymity((SELECT ml_generalize(age, 10) AS age_band, region FROM customers), \
         'age_band,region', 5)",
    )
    .await
    .parse()
    .expect("k");
    assert!(k < 5, "k = {k}");
    let k: i64 = scalar(
        &admin,
        "SELECT k FROM ml_k_anonymity(customers_pseudo, 'age_band,region', 5)",
    )
    .await
    .parse()
    .expect("k");
    assert!(k >= 5, "k = {k}");
    // Both sign-offs, by the people of those roles; then production.
    assert_eq!(
        texts(
            &admin,
            "SELECT role || ' ' || decision || ' ' || decided_by FROM ml_approvals \
             WHERE model = 'churn_governed' ORDER BY role"
        )
        .await,
        [
            Some("compliance approved carl".to_string()),
            Some("risk approved rita".to_string())
        ]
    );
    assert_eq!(
        scalar(
            &admin,
            "SELECT production_version FROM ml_models WHERE name = 'churn_governed'"
        )
        .await,
        "1"
    );
    // The card: what people wrote and what the registry measured.
    let card = scalar(&admin, "SELECT ml_model_card('churn_governed')").await;
    for expected in [
        "Rank customers for retention offers",
        "Legitimate interest",
        "| feature age_band | public.customers.age |",
        "No feature or label comes from a column tagged pii",
        "| metric | value | CI lower | CI upper |",
        "## Global importance",
        "Reweighed by `region` (Kamiran–Calders)",
        "| risk | approved | rita |",
        "| compliance | approved | carl |",
        "| deploy | production | 1 | dan |",
    ] {
        assert!(
            card.contains(expected),
            "the card lacks {expected:?}:\n{card}"
        );
    }
    // The DPIA: no personal data in the features; the age band is a
    // quasi-identifier to watch; approvals and purpose recorded.
    assert_eq!(
        texts(
            &admin,
            "SELECT item || ' ' || status FROM ml_dpia('churn_governed') \
             WHERE item IN ('personal_data', 'quasi_identifiers', 'approvals', 'purpose', 'legal_basis') \
             ORDER BY item"
        )
        .await,
        [
            Some("approvals ok".to_string()),
            Some("legal_basis ok".to_string()),
            Some("personal_data ok".to_string()),
            Some("purpose ok".to_string()),
            Some("quasi_identifiers attention".to_string()),
        ]
    );
    // Customer 42 is gone from every table; nobody else is.
    assert_eq!(
        scalar(
            &admin,
            "SELECT (SELECT count(*) FROM customers WHERE customer_id = 42) + \
                    (SELECT count(*) FROM customer_contacts WHERE customer_id = 42)"
        )
        .await,
        "0"
    );
    assert_eq!(
        scalar(&admin, "SELECT count(*) FROM customers").await,
        "49999"
    );
    // Every statement of the walkthrough is in the audit log under the
    // user who ran it (written in batches: wait for the last one), with
    // the passwords of CREATE USER redacted.
    let ran: Vec<(String, String)> = ran
        .into_iter()
        .map(|(u, sql)| {
            let logged = match passwords.values().find(|p| sql.contains(&format!("'{p}'"))) {
                Some(p) => sql.replace(&format!("'{p}'"), REDACTED),
                None => sql,
            };
            (u, logged)
        })
        .collect();
    let mut missing = Vec::new();
    for _ in 0..50 {
        let logged = texts(
            &admin,
            "SELECT user_name || ' ' || statement FROM ml_audit_log WHERE kind = 'sql'",
        )
        .await;
        let logged: std::collections::HashSet<String> = logged.into_iter().flatten().collect();
        missing = ran
            .iter()
            .filter(|(u, sql)| !logged.contains(&format!("{u} {sql}")))
            .collect::<Vec<_>>();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(missing.is_empty(), "not in the audit log: {missing:?}");
    // No password is in the log; the chain is whole.
    for password in passwords.values() {
        assert_eq!(
            scalar(
                &admin,
                &format!(
                    "SELECT count(*) FROM ml_audit_log WHERE strpos(statement, '{password}') > 0"
                )
            )
            .await,
            "0",
            "{password} is in the audit log"
        );
    }
    assert_eq!(
        scalar(&admin, "SELECT valid FROM ml_audit_verify()").await,
        "t"
    );
    server.stop().await;
}
