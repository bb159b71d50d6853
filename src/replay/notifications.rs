//! Customer e-mails during a migration. A replay into a shop that e-mails customers about orders switches those
//! notifications off for the run and back on at its end. Each one is recorded in the store *before* its switch is
//! flipped, so a run killed in the middle leaves a record behind: the next run into that shop (or
//! `--notifications restore`) switches it back on.

use crate::backends::adapters::CustomerNotifications;
use crate::service::Shop;

use super::ReplayError;

/// What a run does about the target's customer notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotificationPolicy {
    /// Switch off, for the run, every customer notification the platform lets an API client switch off.
    #[default]
    Mute,
    /// Leave the shop's settings as they are (and switch back on any an interrupted run left off).
    Keep,
}

/// What the run did about customer e-mails, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotificationReport {
    /// What the target does about e-mails to customers, in a sentence.
    pub note: String,
    /// Switched off for the run (with any an interrupted earlier run left off) and back on at its end.
    pub muted: Vec<String>,
    /// Sent for migrated orders whatever ordermux does: the platform has no switch for them.
    pub unswitchable: Vec<String>,
    /// Could not be switched back on at the end, so still off in the shop: re-run, or run with
    /// `--notifications restore`.
    pub not_restored: Vec<String>,
}

/// Prepares the target before any order is sent: under `Mute`, switches its active customer notifications off.
/// Returns whether some are off (to be restored by `restore` when the run ends).
pub(super) async fn prepare(
    shop: &Shop,
    policy: NotificationPolicy,
    dry_run: bool,
    report: &mut NotificationReport,
) -> Result<bool, ReplayError> {
    let Some(upstream) = shop.upstream.as_ref() else {
        report.note = "the embedded shop sends no e-mail".to_owned();
        return Ok(false);
    };
    let backend = upstream.backend();
    let cannot = |what: &str, e: &dyn std::fmt::Display| {
        ReplayError::Target(format!(
            "cannot {what} of {backend} ({e}): give its credentials that permission, or pass --notifications keep"
        ))
    };
    let switches = match upstream.customer_notifications().await {
        Ok(CustomerNotifications::NoneSent(why) | CustomerNotifications::NoSwitch(why)) => {
            report.note = why.to_owned();
            return Ok(false);
        }
        Ok(CustomerNotifications::Switches(s)) => s,
        Err(e) => return Err(cannot("read the customer notifications", &e)),
    };
    report.unswitchable = switches
        .iter()
        .filter(|s| !s.switchable)
        .map(|s| s.name.clone())
        .collect();
    let active: Vec<&str> = switches
        .iter()
        .filter(|s| s.switchable && s.active)
        .map(|s| s.name.as_str())
        .collect();
    let always = if report.unswitchable.is_empty() {
        String::new()
    } else {
        format!(
            "; sent whatever the settings: {}",
            report.unswitchable.join(", ")
        )
    };
    if dry_run {
        report.note = format!(
            "a run would switch off for its duration: {}{always}",
            list_or_none(&active)
        );
        return Ok(false);
    }
    if policy == NotificationPolicy::Keep {
        restore(shop, report).await?;
        report.note = format!(
            "left on (--notifications keep): {}{always}",
            list_or_none(&active)
        );
        return Ok(false);
    }
    let now = chrono::Utc::now().timestamp();
    for name in &active {
        shop.store
            .record_muted_notification(backend, name, now)
            .await?;
        if let Err(e) = upstream.switch_notification(name, false).await {
            // Put back what this run already switched off before giving up.
            restore(shop, report).await?;
            return Err(cannot(&format!("switch off notification {name:?}"), &e));
        }
    }
    report.muted = shop.store.muted_notifications(backend).await?;
    report.note = format!(
        "switched off for the run and back on at its end: {}{always}",
        list_or_none(&report.muted)
    );
    Ok(!report.muted.is_empty())
}

/// Switches back on every notification of the target recorded as switched off by a replay, forgetting each once it
/// is on. Those that fail stay recorded and are listed in `report.not_restored`. Returns those switched back on.
pub async fn restore(
    shop: &Shop,
    report: &mut NotificationReport,
) -> Result<Vec<String>, ReplayError> {
    let Some(upstream) = shop.upstream.as_ref() else {
        return Ok(Vec::new());
    };
    let backend = upstream.backend();
    let mut restored = Vec::new();
    report.not_restored.clear();
    for name in shop.store.muted_notifications(backend).await? {
        match upstream.switch_notification(&name, true).await {
            Ok(()) => {
                shop.store.forget_muted_notification(backend, &name).await?;
                restored.push(name);
            }
            Err(e) => {
                tracing::warn!(backend, notification = %name, error = %e, "cannot switch a notification back on");
                report.not_restored.push(name);
            }
        }
    }
    Ok(restored)
}

fn list_or_none<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
