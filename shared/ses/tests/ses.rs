//! The SES adapter against moto: the mailer contract (`ccaas_app::contract::mailer`, also run
//! on the twin in `shared/app/tests/contract.rs`), and what moto kept of a sent mail.

// Test code: clippy.toml's allow-unwrap-in-tests and allow-expect-in-tests cover #[test]
// functions but not the helpers beside them in an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ccaas_app::Mailer;
use ccaas_app::contract::{self, fresh_token};
use ccaas_ses::SesMailer;
use ccaas_testkit::Emulator;

async fn mailer(emu: &Emulator, from: &str) -> SesMailer {
    let sdk = emu.sdk_config().await;
    SesMailer::new(ccaas_ses::client(&sdk), from, Duration::from_secs(10))
}

#[tokio::test]
async fn the_ses_mailer_keeps_the_mailer_contract() {
    let emu = Emulator::shared();
    let m = mailer(emu, &emu.var("CCAAS_MAIL_FROM")).await;
    let to = format!("contract-{}@example.com", fresh_token());
    contract::mailer::run(&m, &to).await;
    assert_eq!(
        emu.ses_messages_to(&to).await.len(),
        1,
        "only the valid mail was sent"
    );
}

#[tokio::test]
async fn a_sent_mail_is_kept_by_moto_from_the_sender_with_its_subject_and_report_link() {
    let emu = Emulator::shared();
    let from = emu.var("CCAAS_MAIL_FROM");
    let m = mailer(emu, &from).await;
    let token = fresh_token();
    let to = format!("qa-{token}@lab.example");
    m.send(&contract::mailer::mail(&to, &token))
        .await
        .expect("sent");
    let kept = emu.ses_messages_to(&to).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["source"], from.as_str());
    assert_eq!(
        kept[0]["subject"],
        format!("[ccaas] contract {token}: succeeded (50.0% lines)")
    );
    let body = kept[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "href=\"https://site.example/reports/{token}/index.html\""
        )),
        "the HTML part with the report link: {body}"
    );
}

#[tokio::test]
async fn a_sender_ses_has_not_verified_is_refused_with_the_reason_and_nothing_is_kept() {
    let emu = Emulator::shared();
    let token = fresh_token();
    let m = mailer(emu, &format!("unverified-{token}@example.com")).await;
    let to = format!("someone-{token}@example.com");
    let e = m
        .send(&contract::mailer::mail(&to, &token))
        .await
        .expect_err("refused");
    assert!(e.message.contains("not verified"), "{e}");
    assert!(
        e.message
            .starts_with("SES did not send the mail: MessageRejected"),
        "{e}"
    );
    assert!(emu.ses_messages_to(&to).await.is_empty());
}
