//! Statistical process control for individual values (an I-chart, as in
//! Montgomery, *Introduction to Statistical Quality Control*, ch. 6): the
//! center line is the baseline mean, σ is estimated from the average moving
//! range of the baseline (σ̂ = MR̄ / d₂, d₂ = 1.128 for ranges of two), and
//! the Western Electric rules flag points:
//!
//! 1. one point beyond 3σ;
//! 2. two of three consecutive points beyond 2σ on the same side;
//! 3. four of five consecutive points beyond 1σ on the same side;
//! 4. eight consecutive points on the same side of the center line.
//!
//! A rule is flagged on the point that completes its pattern, and only when
//! that point is itself in the zone (so a run is reported where it is).

/// d₂ for moving ranges of two consecutive points.
pub const D2: f64 = 1.128;

/// Center line and σ from the first `baseline` values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub center: f64,
    pub sigma: f64,
}

impl Limits {
    /// `None` with fewer than two baseline values.
    pub fn of(baseline: &[f64]) -> Option<Limits> {
        if baseline.len() < 2 {
            return None;
        }
        let center = baseline.iter().sum::<f64>() / baseline.len() as f64;
        let ranges: f64 = baseline.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
        let sigma = ranges / (baseline.len() - 1) as f64 / D2;
        Some(Limits { center, sigma })
    }

    pub fn upper(&self) -> f64 {
        self.center + 3.0 * self.sigma
    }

    pub fn lower(&self) -> f64 {
        self.center - 3.0 * self.sigma
    }
}

/// The Western Electric rules (1..=4) each point breaks.
pub fn rules(values: &[f64], limits: Limits) -> Vec<Vec<u8>> {
    let z: Vec<f64> = values
        .iter()
        .map(|&v| {
            let d = v - limits.center;
            if limits.sigma > 0.0 {
                d / limits.sigma
            } else if d == 0.0 {
                0.0
            } else {
                // No spread in the baseline: any departure is out of control.
                d.signum() * f64::INFINITY
            }
        })
        .collect();
    let mut out = vec![Vec::new(); values.len()];
    for i in 0..values.len() {
        let zi = z[i];
        if zi.abs() > 3.0 {
            out[i].push(1);
        }
        // `k` of the last `m` points beyond `level` on the side of point i.
        let run = |m: usize, k: usize, level: f64| -> bool {
            if i + 1 < m || zi.abs() <= level {
                return false;
            }
            let side = zi.signum();
            z[i + 1 - m..=i]
                .iter()
                .filter(|&&v| v * side > level)
                .count()
                >= k
        };
        if run(3, 2, 2.0) {
            out[i].push(2);
        }
        if run(5, 4, 1.0) {
            out[i].push(3);
        }
        if i >= 7 && zi != 0.0 {
            let side = zi.signum();
            if z[i - 7..=i].iter().all(|&v| v * side > 0.0) {
                out[i].push(4);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_use_the_average_moving_range() {
        let l = Limits::of(&[10.0, 12.0, 11.0, 13.0]).expect("limits");
        assert_eq!(l.center, 11.5);
        // ranges 2, 1, 2 → MR̄ 5/3, σ = 5/3 / 1.128
        assert!((l.sigma - 5.0 / 3.0 / 1.128).abs() < 1e-15);
        assert_eq!(Limits::of(&[1.0]), None);
    }

    #[test]
    fn each_rule_fires_on_its_pattern() {
        let limits = Limits {
            center: 0.0,
            sigma: 1.0,
        };
        let r = rules(&[0.5, 3.5, -0.2], limits);
        assert_eq!(r, vec![vec![], vec![1], vec![]]);
        // Two of three beyond 2σ, same side.
        let r = rules(&[2.5, 0.0, 2.2], limits);
        assert_eq!(r[2], vec![2]);
        // Not on opposite sides.
        assert!(rules(&[2.5, 0.0, -2.2], limits)[2].is_empty());
        // Four of five beyond 1σ.
        let r = rules(&[1.5, 1.2, 0.0, 1.1, 1.3], limits);
        assert_eq!(r[4], vec![3]);
        assert!(r[3].is_empty());
        // Eight in a row above the center.
        let r = rules(&[0.1, 0.2, 0.3, 0.1, 0.5, 0.2, 0.4, 0.3, -0.1], limits);
        assert_eq!(r[7], vec![4]);
        assert!(r[6].is_empty() && r[8].is_empty());
    }
}
