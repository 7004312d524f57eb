//! Whether a resource trends upward past noise over a soak.
//!
//! The load swings by design (players join and leave in waves, publishers
//! come and go), so a plain slope over a short run would call a wave a leak.
//! A resource *leaks* when its floor rises: the lowest value in the last
//! third of the run stands above the highest value in the first third (after
//! the warm-up) by more than the noise allowance. A leak that grows slower
//! than the swing is caught by a longer run; the slope is reported beside
//! the verdict for the reader.

/// One resource's samples over the run, `(seconds since start, value)`.
#[derive(Debug, Default, Clone)]
pub struct Series {
    points: Vec<(f64, f64)>,
}

/// How much a floor may rise before it is a leak: `absolute`, or `relative`
/// of the first third's highest value, whichever is larger.
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    /// In the series' unit.
    pub absolute: f64,
    /// A fraction (0.2 = 20 %).
    pub relative: f64,
}

/// The verdict on one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// Highest value in the first third.
    pub early_max: f64,
    /// Lowest value in the last third.
    pub late_min: f64,
    /// Least-squares slope, per minute.
    pub slope_per_min: f64,
    /// The floor rose past the noise.
    pub leaks: bool,
}

impl Series {
    /// Adds a sample.
    pub fn push(&mut self, at_secs: f64, value: f64) {
        self.points.push((at_secs, value));
    }

    /// Samples taken at or after `from_secs`.
    fn after(&self, from_secs: f64) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .copied()
            .filter(|(t, _)| *t >= from_secs)
            .collect()
    }

    /// The verdict over the samples after `warm_up_secs`; `None` with fewer
    /// than six of them.
    pub fn trend(&self, warm_up_secs: f64, noise: Noise) -> Option<Trend> {
        let pts = self.after(warm_up_secs);
        if pts.len() < 6 {
            return None;
        }
        let third = pts.len() / 3;
        let early_max = pts[..third].iter().map(|p| p.1).reduce(f64::max)?;
        let late_min = pts[pts.len() - third..]
            .iter()
            .map(|p| p.1)
            .reduce(f64::min)?;
        let allowed = noise.absolute.max(noise.relative * early_max.abs());
        Some(Trend {
            early_max,
            late_min,
            slope_per_min: slope(&pts) * 60.0,
            leaks: late_min > early_max + allowed,
        })
    }
}

/// Least-squares slope of `pts` (value per second).
fn slope(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    let (mx, my) = pts
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (num, den) = pts.iter().fold((0.0, 0.0), |(a, b), p| {
        (a + (p.0 - mx) * (p.1 - my), b + (p.0 - mx) * (p.0 - mx))
    });
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOISE: Noise = Noise {
        absolute: 10.0,
        relative: 0.1,
    };

    fn series(f: impl Fn(f64) -> f64) -> Series {
        let mut s = Series::default();
        for i in 0..60 {
            let t = f64::from(i) * 5.0;
            s.push(t, f(t));
        }
        s
    }

    #[test]
    fn waves_of_load_are_not_a_leak() {
        let waves = series(|t| 100.0 + 40.0 * (t / 20.0).sin());
        let trend = waves.trend(0.0, NOISE).expect("enough samples");
        assert!(!trend.leaks, "{trend:?}");
    }

    #[test]
    fn a_rising_floor_is_a_leak_and_its_slope_is_reported() {
        // One unit per second under the same waves: 300 over the run.
        let leak = series(|t| 100.0 + t + 40.0 * (t / 20.0).sin());
        let trend = leak.trend(0.0, NOISE).expect("enough samples");
        assert!(trend.leaks, "{trend:?}");
        assert!((trend.slope_per_min - 60.0).abs() < 10.0, "{trend:?}");
    }

    #[test]
    fn growth_within_the_noise_is_not_a_leak_and_warm_up_is_skipped() {
        // A fast climb during the warm-up, then flat but for a small rise.
        let s = series(|t| {
            if t < 30.0 {
                t * 10.0
            } else {
                300.0 + t / 100.0
            }
        });
        assert!(!s.trend(30.0, NOISE).expect("samples").leaks);
        assert!(Series::default().trend(0.0, NOISE).is_none());
    }
}
