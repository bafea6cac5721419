//! The monthly cost estimate `up` and `up --dry-run` print, at the
//! deployment region's prices: instance hours (with the free-tier offset
//! when the account's plan covers them), the gp3 root and data volumes, the
//! public IPv4 address (billed on an Elastic IP even while attached, since
//! 2024-02-01), snapshots when backups are on, CloudWatch alarms beyond the
//! account's free ten, and data transfer out to the internet (per GB, with
//! an example at the user's expected rate: every consumed byte leaves AWS
//! once per consumer group). Pure arithmetic on a dated price table, so it
//! is the same before and after a deployment and testable without AWS.
//!
//! The table ([`PRICES_AS_OF`]): AWS's public on-demand prices (Linux,
//! shared tenancy) for five regions, from the EC2, EBS, VPC (public IPv4)
//! and CloudWatch pricing pages as published in 2025; xlarge and 2xlarge
//! are 2 and 4 times large, as AWS prices these families. To refresh it,
//! read the Price List API (`aws pricing get-products --region us-east-1
//! --service-code AmazonEC2 --filters Type=TERM_MATCH,Field=instanceType,Value=t3.micro
//! Type=TERM_MATCH,Field=regionCode,Value=eu-west-1 ...`), update the rows
//! and the date. A region not in the table is priced as us-east-1, and the
//! estimate says so.

use crate::instance_types::InstanceType;
use std::fmt;

/// Hours in the month AWS bills by (365 * 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// gp3 storage, USD per GiB-month (us-east-1).
pub const GP3_USD_PER_GIB_MONTH: f64 = 0.08;
/// Public IPv4 address (Elastic IP included), USD per hour, every region.
pub const PUBLIC_IPV4_USD_PER_HOUR: f64 = 0.005;
/// EBS snapshot storage (standard tier), USD per GiB-month (us-east-1).
pub const SNAPSHOT_USD_PER_GIB_MONTH: f64 = 0.05;
/// CloudWatch Logs: ingestion per GB and storage per GB-month (us-east-1);
/// the first 5 GB a month are free.
pub const LOGS_USD_PER_GB_INGESTED: f64 = 0.50;
/// The root volume's size (the Amazon Linux 2023 image's).
pub const ROOT_GIB: u32 = 8;
/// When the price table was read from AWS's pricing pages.
pub const PRICES_AS_OF: &str = "2025 (AWS pricing pages; see cost.rs to refresh)";
/// Data transfer out to the internet free each month, per account (all
/// regions together).
pub const FREE_TRANSFER_GB: f64 = 100.0;
/// Standard-resolution alarms free each month, per account.
pub const FREE_ALARMS: u32 = 10;
/// The expected outbound rate when none is given, in Mbit/s.
pub const DEFAULT_EXPECT_MBPS: f64 = 0.1;

/// One region's prices.
#[derive(Debug)]
pub struct RegionPrices {
    pub region: &'static str,
    pub gp3_gib_month: f64,
    pub snapshot_gib_month: f64,
    /// Data transfer out to the internet, first 10 TB tier, per GB.
    pub transfer_out_gb: f64,
    /// A standard-resolution alarm (one metric), per month.
    pub alarm_month: f64,
    /// USD per hour of nano, micro, small, medium, large for t2, t3, t3a, t4g.
    pub t2: [f64; 5],
    pub t3: [f64; 5],
    pub t3a: [f64; 5],
    pub t4g: [f64; 5],
}

/// The price table.
pub const PRICES: &[RegionPrices] = &[
    RegionPrices {
        region: "us-east-1",
        gp3_gib_month: 0.08,
        snapshot_gib_month: 0.05,
        transfer_out_gb: 0.09,
        alarm_month: 0.10,
        t2: [0.0058, 0.0116, 0.023, 0.0464, 0.0928],
        t3: [0.0052, 0.0104, 0.0208, 0.0416, 0.0832],
        t3a: [0.0047, 0.0094, 0.0188, 0.0376, 0.0752],
        t4g: [0.0042, 0.0084, 0.0168, 0.0336, 0.0672],
    },
    RegionPrices {
        region: "us-west-2",
        gp3_gib_month: 0.08,
        snapshot_gib_month: 0.05,
        transfer_out_gb: 0.09,
        alarm_month: 0.10,
        t2: [0.0058, 0.0116, 0.023, 0.0464, 0.0928],
        t3: [0.0052, 0.0104, 0.0208, 0.0416, 0.0832],
        t3a: [0.0047, 0.0094, 0.0188, 0.0376, 0.0752],
        t4g: [0.0042, 0.0084, 0.0168, 0.0336, 0.0672],
    },
    RegionPrices {
        region: "eu-west-1",
        gp3_gib_month: 0.088,
        snapshot_gib_month: 0.05,
        transfer_out_gb: 0.09,
        alarm_month: 0.10,
        t2: [0.0063, 0.0126, 0.025, 0.05, 0.1008],
        t3: [0.0057, 0.0114, 0.0228, 0.0456, 0.0912],
        t3a: [0.0051, 0.0102, 0.0204, 0.0408, 0.0816],
        t4g: [0.0046, 0.0092, 0.0184, 0.0368, 0.0736],
    },
    RegionPrices {
        region: "eu-central-1",
        gp3_gib_month: 0.0952,
        snapshot_gib_month: 0.054,
        transfer_out_gb: 0.09,
        alarm_month: 0.10,
        t2: [0.0067, 0.0134, 0.0268, 0.0536, 0.1072],
        t3: [0.006, 0.012, 0.024, 0.048, 0.096],
        t3a: [0.0054, 0.0108, 0.0216, 0.0432, 0.0864],
        t4g: [0.0048, 0.0096, 0.0192, 0.0384, 0.0768],
    },
    RegionPrices {
        region: "ap-southeast-1",
        gp3_gib_month: 0.096,
        snapshot_gib_month: 0.05,
        transfer_out_gb: 0.12,
        alarm_month: 0.10,
        t2: [0.0073, 0.0146, 0.0292, 0.0584, 0.1168],
        t3: [0.0066, 0.0132, 0.0264, 0.0528, 0.1056],
        t3a: [0.0059, 0.0118, 0.0236, 0.0472, 0.0944],
        t4g: [0.0053, 0.0106, 0.0212, 0.0424, 0.0848],
    },
];

/// The prices of `region`, or us-east-1's (and false) if it is not in the table.
pub fn prices(region: &str) -> (&'static RegionPrices, bool) {
    match PRICES.iter().find(|p| p.region == region) {
        Some(p) => (p, true),
        None => (&PRICES[0], false),
    }
}

impl RegionPrices {
    /// USD per hour of `name` (`t3.micro`), if it is a supported type.
    pub fn instance(&self, name: &str) -> Option<f64> {
        let (family, size) = name.split_once('.')?;
        let row = match family {
            "t2" => &self.t2,
            "t3" => &self.t3,
            "t3a" => &self.t3a,
            "t4g" => &self.t4g,
            _ => return None,
        };
        Some(match size {
            "nano" => row[0],
            "micro" => row[1],
            "small" => row[2],
            "medium" => row[3],
            "large" => row[4],
            "xlarge" => row[4] * 2.0,
            "2xlarge" => row[4] * 4.0,
            _ => return None,
        })
    }
}

/// What the account's free tier does for the instance hours.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FreeTier {
    /// Not known (the plan could not be read).
    #[default]
    Unknown,
    /// Covered: a Free Plan account and an eligible type (from credits).
    Covered,
    /// Covered only in an old account's first 12 months (750 h/month).
    IfFirstYear,
    /// Not covered.
    No,
}

/// What the estimate is made of, besides the type.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub region: &'a str,
    /// The data volume; the root volume is [`ROOT_GIB`].
    pub volume_gib: u32,
    pub unlimited: bool,
    /// Scheduled backups kept (None: no schedule).
    pub backups_kept: Option<u32>,
    /// Alarms the deployment creates.
    pub alarms: u32,
    /// Expected data out to the internet, Mbit/s on average.
    pub expect_mbps: f64,
    pub free_tier: FreeTier,
}

impl Default for Inputs<'_> {
    fn default() -> Self {
        Inputs {
            region: "us-east-1",
            volume_gib: 8,
            unlimited: false,
            backups_kept: None,
            alarms: 0,
            expect_mbps: DEFAULT_EXPECT_MBPS,
            free_tier: FreeTier::Unknown,
        }
    }
}

/// A monthly estimate, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub instance_type: &'static str,
    pub region: String,
    /// The table had the region (else us-east-1's prices are used).
    pub priced_here: bool,
    pub instance: f64,
    pub free_tier: FreeTier,
    /// The data volume; the root volume is [`ROOT_GIB`].
    pub volume_gib: u32,
    /// Both volumes.
    pub volume: f64,
    pub public_ipv4: f64,
    /// (kept, USD at most) when backups are on.
    pub snapshots: Option<(u32, f64)>,
    pub alarms: u32,
    pub alarm_month: f64,
    pub alarms_usd: f64,
    pub transfer_out_gb: f64,
    pub expect_mbps: f64,
    pub transfer_gb: f64,
    pub transfer_usd: f64,
    pub unlimited: bool,
}

/// GB a month at `mbps` Mbit/s on average (decimal GB, as AWS bills).
pub fn gb_per_month(mbps: f64) -> f64 {
    mbps * 1e6 / 8.0 * 3600.0 * HOURS_PER_MONTH / 1e9
}

impl Estimate {
    /// us-east-1, no backups, no alarms, the default transfer.
    #[cfg(test)]
    pub fn new(t: &InstanceType, volume_gib: u32, unlimited: bool) -> Estimate {
        Estimate::with(
            t,
            &Inputs {
                volume_gib,
                unlimited,
                ..Default::default()
            },
        )
    }

    pub fn with(t: &InstanceType, i: &Inputs<'_>) -> Estimate {
        let (p, priced_here) = prices(i.region);
        let per_hour = p.instance(t.name).unwrap_or(t.usd_per_hour);
        let snapshots = i.backups_kept.map(|keep| {
            (
                keep,
                f64::from(keep) * f64::from(i.volume_gib) * p.snapshot_gib_month,
            )
        });
        let transfer_gb = gb_per_month(i.expect_mbps.max(0.0));
        Estimate {
            instance_type: t.name,
            region: i.region.to_string(),
            priced_here,
            instance: per_hour * HOURS_PER_MONTH,
            free_tier: i.free_tier.clone(),
            volume_gib: i.volume_gib,
            volume: f64::from(ROOT_GIB + i.volume_gib) * p.gp3_gib_month,
            public_ipv4: PUBLIC_IPV4_USD_PER_HOUR * HOURS_PER_MONTH,
            snapshots,
            alarms: i.alarms,
            alarm_month: p.alarm_month,
            alarms_usd: f64::from(i.alarms.saturating_sub(FREE_ALARMS)) * p.alarm_month,
            transfer_out_gb: p.transfer_out_gb,
            expect_mbps: i.expect_mbps,
            transfer_gb,
            transfer_usd: (transfer_gb - FREE_TRANSFER_GB).max(0.0) * p.transfer_out_gb,
            unlimited: i.unlimited,
        }
    }

    /// The instance hours the free tier pays for.
    pub fn free_offset(&self) -> f64 {
        match self.free_tier {
            FreeTier::Covered | FreeTier::IfFirstYear => self.instance,
            _ => 0.0,
        }
    }

    /// What the month costs (the free-tier offset only when it certainly
    /// applies).
    pub fn total(&self) -> f64 {
        let offset = if self.free_tier == FreeTier::Covered {
            self.instance
        } else {
            0.0
        };
        self.instance - offset
            + self.volume
            + self.public_ipv4
            + self.snapshots.map_or(0.0, |s| s.1)
            + self.alarms_usd
            + self.transfer_usd
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Estimated monthly cost (on-demand, {} prices as of {PRICES_AS_OF}):",
            if self.priced_here {
                self.region.as_str()
            } else {
                "us-east-1"
            }
        )?;
        if !self.priced_here {
            writeln!(
                f,
                "  ({} is not in skiff's price table: us-east-1's prices are shown; yours differ)",
                self.region
            )?;
        }
        writeln!(
            f,
            "  instance {:<12} ${:>7.2}   (730 h)",
            self.instance_type, self.instance
        )?;
        match self.free_tier {
            FreeTier::Covered => writeln!(
                f,
                "  free-tier offset      $-{:>6.2}   (Free Plan: paid from the plan's credits)",
                self.instance
            )?,
            FreeTier::IfFirstYear => writeln!(
                f,
                "  free-tier offset      $-{:>6.2}   (not counted: only in an account's first 12 months, 750 h/month)",
                self.instance
            )?,
            _ => {}
        }
        writeln!(
            f,
            "  gp3 volumes {:>4} GiB   ${:>7.2}   ({ROOT_GIB} GiB root + {} GiB data)",
            ROOT_GIB + self.volume_gib,
            self.volume,
            self.volume_gib
        )?;
        writeln!(
            f,
            "  public IPv4 (EIP)     ${:>7.2}   ($0.005/h, billed while attached too)",
            self.public_ipv4
        )?;
        if let Some((keep, usd)) = self.snapshots {
            writeln!(
                f,
                "  snapshots (at most)   ${usd:>7.2}   ({keep} kept; incremental, usually far less)"
            )?;
        }
        if self.alarms > 0 {
            writeln!(
                f,
                "  CloudWatch alarms     ${:>7.2}   ({} alarms; the account's first {FREE_ALARMS} are free, then ${:.2} each)",
                self.alarms_usd, self.alarms, self.alarm_month
            )?;
        }
        writeln!(
            f,
            "  data out {:>6.1} GB    ${:>7.2}   (at {} Mbit/s average, --expect-mbps; ${:.2}/GB after the account's first {FREE_TRANSFER_GB:.0} GB a month; every consumer group reads each byte once)",
            self.transfer_gb, self.transfer_usd, self.expect_mbps, self.transfer_out_gb
        )?;
        write!(f, "  total                 ${:>7.2}", self.total())?;
        if self.free_tier == FreeTier::IfFirstYear {
            write!(
                f,
                "\n  total in the free tier's first year ${:>7.2}",
                self.total() - self.free_offset()
            )?;
        }
        if self.unlimited {
            write!(
                f,
                "\n  (unlimited credit mode: CPU use above baseline is billed extra, about $0.05 per vCPU-hour)"
            )?;
        }
        Ok(())
    }
}

/// What snapshots of `gib` GiB may cost a month, at most: the first one
/// stores the volume's used blocks, later ones only the blocks that
/// changed since, so `n` of them usually cost far less than `n` copies.
pub fn snapshots_usd(n: u32, gib: i32) -> f64 {
    f64::from(n) * f64::from(gib.max(0)) * SNAPSHOT_USD_PER_GIB_MONTH
}

/// The cost line of the broker's logs in CloudWatch Logs.
pub fn logs_line(retention_days: u32) -> String {
    format!(
        "  CloudWatch Logs: ${LOGS_USD_PER_GB_INGESTED:.2} per GB of broker log lines after the first 5 GB a month \
         (kept {retention_days} days); a broker at RUST_LOG=info writes a few MB"
    )
}

/// The cost line of one backup of a `gib` GiB volume.
pub fn snapshot_line(gib: i32) -> String {
    format!(
        "snapshot storage costs ${SNAPSHOT_USD_PER_GIB_MONTH:.2} per GiB-month (us-east-1): at most ${:.2}/month for this {gib} GiB volume, less when it is not full (only used blocks are stored; later snapshots store only what changed)",
        snapshots_usd(1, gib)
    )
}

/// The cost line of a schedule keeping `keep` snapshots of `gib` GiB.
pub fn schedule_line(keep: u32, gib: i32) -> String {
    format!(
        "snapshot storage ${SNAPSHOT_USD_PER_GIB_MONTH:.2}/GiB-month: at most ${:.2}/month for {keep} of {gib} GiB, usually little more than one copy (incremental)",
        snapshots_usd(keep, gib)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance_types::lookup;

    #[test]
    fn t3_micro_default_estimate() {
        let e = Estimate::new(lookup("t3.micro").unwrap(), 8, false);
        assert!((e.instance - 7.592).abs() < 1e-9);
        // 8 GiB root + 8 GiB data.
        assert!((e.volume - 1.28).abs() < 1e-9);
        assert!((e.public_ipv4 - 3.65).abs() < 1e-9);
        assert!((e.total() - 12.522).abs() < 1e-9);
        let text = e.to_string();
        assert!(text.contains("$  12.52"), "{text}");
        assert!(text.contains("us-east-1 prices"), "{text}");
        assert!(
            text.contains("gp3 volumes   16 GiB   $   1.28   (8 GiB root + 8 GiB data)"),
            "{text}"
        );
        assert!(!text.contains("unlimited"));
    }

    #[test]
    fn eu_west_1_total_with_data_out() {
        let e = Estimate::with(
            lookup("t3.micro").unwrap(),
            &Inputs {
                region: "eu-west-1",
                expect_mbps: 1.0,
                ..Default::default()
            },
        );
        // 0.0114 $/h * 730 h; 16 GiB * 0.088; 730 h * 0.005;
        // 1 Mbit/s = 328.5 GB, 228.5 GB past the free 100 at 0.09.
        assert!((e.instance - 8.322).abs() < 1e-9);
        assert!((e.volume - 1.408).abs() < 1e-9);
        assert!((e.transfer_gb - 328.5).abs() < 1e-9);
        assert!((e.transfer_usd - 20.565).abs() < 1e-9);
        assert!((e.total() - 33.945).abs() < 1e-9, "{}", e.total());
        let text = e.to_string();
        assert!(text.contains("eu-west-1 prices"), "{text}");
        assert!(text.contains("total                 $  33.95"), "{text}");
    }

    #[test]
    fn ap_southeast_1_total_on_the_free_plan_with_backups_and_alarms() {
        let e = Estimate::with(
            lookup("t4g.small").unwrap(),
            &Inputs {
                region: "ap-southeast-1",
                volume_gib: 30,
                backups_kept: Some(7),
                alarms: 12,
                free_tier: FreeTier::Covered,
                ..Default::default()
            },
        );
        // Instance 0.0212 * 730 = 15.476, paid by the Free Plan's credits;
        // 38 GiB * 0.096 = 3.648; 3.65; 7 * 30 * 0.05 = 10.5; 2 alarms
        // past ten at 0.10; 0.1 Mbit/s = 32.85 GB, within the free 100.
        assert!((e.instance - 15.476).abs() < 1e-9);
        assert_eq!(e.transfer_usd, 0.0);
        assert!((e.total() - 17.998).abs() < 1e-9, "{}", e.total());
        let text = e.to_string();
        assert!(text.contains("free-tier offset      $- 15.48"), "{text}");
        assert!(text.contains("12 alarms"), "{text}");
    }

    #[test]
    fn unknown_region_is_priced_as_us_east_1_and_says_so() {
        let e = Estimate::with(
            lookup("t3.micro").unwrap(),
            &Inputs {
                region: "sa-east-1",
                ..Default::default()
            },
        );
        assert!((e.total() - 12.522).abs() < 1e-9);
        assert!(e
            .to_string()
            .contains("sa-east-1 is not in skiff's price table"));
    }

    #[test]
    fn every_region_prices_every_type() {
        for p in PRICES {
            for t in crate::instance_types::TABLE {
                assert!(p.instance(t.name).is_some(), "{} {}", p.region, t.name);
            }
        }
        // us-east-1's rows agree with the instance-type table.
        for t in crate::instance_types::TABLE {
            let got = PRICES[0].instance(t.name).unwrap();
            assert!((got - t.usd_per_hour).abs() < 1e-9, "{}", t.name);
        }
    }

    #[test]
    fn snapshot_costs() {
        assert!((snapshots_usd(7, 8) - 2.8).abs() < 1e-9);
        assert!(
            snapshot_line(8).contains("$0.40/month"),
            "{}",
            snapshot_line(8)
        );
        assert!(schedule_line(7, 8).contains("$2.80/month for 7 of 8 GiB"));
    }

    #[test]
    fn unlimited_is_flagged() {
        let e = Estimate::new(lookup("t4g.small").unwrap(), 30, true);
        assert!(e.to_string().contains("unlimited credit mode"));
    }
}
