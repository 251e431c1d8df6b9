//! The mailer contract: a mail to plain recipients is accepted; one with no recipient is
//! refused; the budget bounds a send, so it is never zero for a working mailer. What a real
//! service kept is checked by the adapter's own tests (moto's sent messages).

use super::{fail, fresh_token, same};
use crate::ports::{Mail, Mailer};

/// A mail to `to` whose subject and bodies carry `token`.
pub fn mail(to: &str, token: &str) -> Mail {
    Mail {
        to: vec![to.to_string()],
        subject: format!("[ccaas] contract {token}: succeeded (50.0% lines)"),
        text: format!(
            "Task {token} succeeded.\nReport: https://site.example/reports/{token}/index.html\n"
        ),
        html: format!(
            "<p>Task {token} succeeded.</p><a href=\"https://site.example/reports/{token}/index.html\">report</a>"
        ),
        delivery_id: token.to_string(),
    }
}

/// Runs the suite, sending to `to` (an address the mailer may send to).
pub async fn run<M: Mailer>(mailer: &M, to: &str) {
    let c = "a mail to a plain recipient is accepted";
    if let Err(e) = mailer.send(&mail(to, &fresh_token())).await {
        fail(c, e);
    }

    let c = "a mail with no recipient is refused";
    let mut none = mail(to, &fresh_token());
    none.to.clear();
    same(c, "refused", mailer.send(&none).await.is_err(), true);

    let c = "the budget bounds a send";
    same(c, "non-zero", mailer.budget().is_zero(), false);
}
