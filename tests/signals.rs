//! Every signal number prints, through every `Display` and `Debug` that can show one.

use rawclone::{Error, ExitStatus, Signal};

#[test]
fn every_signal_number_prints_by_name_or_real_time_offset() {
    assert_eq!(Signal::new(0), None);
    assert_eq!(Signal::new(65), None);
    for n in 1..=64 {
        let sig = Signal::new(n).expect("1..=64 are signals");
        let shown = sig.to_string();
        let expected = match n {
            16 => "SIGSTKFLT".to_string(),
            32.. => format!("SIGRTMIN+{}", n - 32),
            _ => shown.clone(),
        };
        assert_eq!(shown, expected, "signal {n}");
        assert!(shown.starts_with("SIG"), "signal {n} prints as {shown}");
        assert_eq!(format!("{sig:?}"), shown);
        assert_eq!(sig.name().is_some(), n < 32, "signal {n}");
        for core_dumped in [false, true] {
            let status = ExitStatus::Signaled {
                signal: sig,
                core_dumped,
            };
            assert!(format!("{status:?}").contains(&shown));
            let err = Error::TaskEnded(Some(status));
            assert!(err.to_string().ends_with(&format!("killed by {shown}")));
            assert!(format!("{err:?}").contains(&shown));
        }
    }
}
