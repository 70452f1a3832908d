//! The User panel's concern: what it shows of one user, kept until the user, the model or K
//! change (scoring one user takes milliseconds, so it runs on the GUI thread, not as a task).

pub mod panel;

#[derive(Default)]
pub struct UserState {
    /// The opened model's recommendations.
    pub view: Option<panel::UserView>,
    /// The `lm` top-K, keyed by (user, K, language model).
    pub lm_view: Option<panel::LmView>,
}
