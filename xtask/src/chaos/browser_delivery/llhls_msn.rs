//! placeholder
use super::super::Ctx;
/// Scenario 30.
pub fn llhls_msn_flood(_ctx: &mut Ctx) -> Result<(), String> {
    Err("todo".into())
}
