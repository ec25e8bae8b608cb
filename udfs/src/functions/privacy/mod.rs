//! Privacy: masking and generalizing values before they reach a model, a
//! view or an export. Each is a pure function of its arguments, so the
//! same value always masks the same way on any machine and release.
//! (What these do not protect against: `docs/security.md`.)

pub mod generalize;
mod groups;
pub mod k_anonymity;
pub mod l_diversity;
pub mod mask;
pub mod mask_email;
pub mod pii;
pub mod pii_scan;

use crate::Services;
use crate::functions::definition::Definition;

/// The privacy functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        Definition::scalar(|_| mask::MaskUdf::new()),
        Definition::scalar(|_| mask_email::MaskEmailUdf::new()),
        Definition::scalar(|_| generalize::GeneralizeUdf::new()),
        Definition::table(|_| k_anonymity::KAnonymityUdtf),
        Definition::table(|_| l_diversity::LDiversityUdtf),
        Definition::table(|_| pii_scan::PiiScanUdtf),
    ]
}
