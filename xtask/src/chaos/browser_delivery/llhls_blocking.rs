//! placeholder
use super::super::Ctx;
/// Scenario 29.
pub fn llhls_blocking_flood(_ctx: &mut Ctx) -> Result<(), String> {
    Err("todo".into())
}
