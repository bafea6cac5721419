//! The checks `skiff up` (and `--dry-run`) and `skiff resize` run before
//! anything billable exists: everything that would make AWS refuse a step
//! halfway through (after the security group and the Elastic IP, which
//! bills, already exist) is asked first, with read-only calls, and every
//! failure is reported together, each naming its fix.
//!
//! The checks: the credentials and the region (STS GetCallerIdentity); a
//! default VPC; room for one more Elastic IP (DescribeAddresses against
//! the account attribute `vpc-max-elastic-ips`); the type offered in a zone
//! (DescribeInstanceTypeOfferings); free-tier eligibility
//! (DescribeInstanceTypes, filter `free-tier-eligible=true`) against the
//! account's plan (Free Tier API GetAccountPlanState); the Running
//! On-Demand Standard vCPU quota (Service Quotas, L-1216C47A); the user
//! data within 16 KB.
//!
//! The plan decides whether a type that is not eligible is refused: Free
//! Plan accounts (created on or after 15 July 2025) "can only launch
//! free-tier-eligible instance types"; any other type fails RunInstances
//! with `InvalidParameterCombination` (EC2 User Guide, "Free Tier
//! eligible instance types"). When the plan cannot be read (no
//! `freetier:GetAccountPlanState` permission, or moto, which has no Free
//! Tier API), a non-eligible type is only warned about. The tests stand in
//! for the Free Tier API with a hidden hook (`SKIFF_ACCOUNT_PLAN`, see
//! `crate::hooks`); what the real API answers is not verified by them.

use crate::aws::{api, Clients};
use crate::config::Config;
use crate::instance_types::InstanceType;
use crate::render::{Bundle, DataVolumeId, LogSettings, RenderError, Target, MAX_USER_DATA};
use aws_sdk_ec2::types::Filter;
use std::fmt;

/// Service Quotas code of "Running On-Demand Standard (A, C, D, H, I, M,
/// R, T, Z) instances", in vCPUs.
pub const VCPU_QUOTA_CODE: &str = "L-1216C47A";

/// The date from which new accounts are on the Free Plan.
const FREE_PLAN_START: &str = "15 July 2025";

/// The account's free-tier plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The Free Plan: only free-tier-eligible types launch.
    Free,
    /// A paid plan (including every account made before the Free Plan).
    Paid,
    /// Not known, and why.
    Unknown(String),
}

impl Plan {
    /// `free` or `paid` (the test hook's values).
    pub fn parse(s: &str) -> Option<Plan> {
        match s.to_ascii_lowercase().as_str() {
            "free" => Some(Plan::Free),
            "paid" => Some(Plan::Paid),
            _ => None,
        }
    }
}

/// What one run of the checks asks for.
pub struct Request<'a> {
    pub instance_type: &'static InstanceType,
    /// An Elastic IP will be allocated (a new deployment).
    pub new_address: bool,
    /// vCPUs that will start running on top of what runs now.
    pub new_vcpus: i64,
    /// The config whose user data is checked (None: no new user data).
    pub config: Option<&'a Config>,
    /// The plan to assume instead of asking the Free Tier API (test hook).
    pub plan: Option<Plan>,
}

/// The outcome: problems refuse the command, warnings and facts are told.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// Plain statements, e.g. whether the type is free for this account.
    pub facts: Vec<String>,
    /// What the free tier does for the instance hours (the cost estimate).
    pub free_tier: crate::cost::FreeTier,
}

/// Every problem found, as one error.
#[derive(Debug)]
pub struct Failed(pub Vec<String>);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "preflight: {} problem{} must be fixed before anything is created (nothing was created):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for (i, p) in self.0.iter().enumerate() {
            write!(f, "\n  {}. {p}", i + 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failed {}

impl Findings {
    /// Prints the facts and warnings; the problems as one error; else
    /// what the free tier covers.
    pub fn into_result(
        self,
        out: &crate::printer::Printer,
    ) -> Result<crate::cost::FreeTier, Failed> {
        for f in &self.facts {
            out.out(f);
        }
        for w in &self.warnings {
            out.warn(w);
        }
        if self.problems.is_empty() {
            Ok(self.free_tier)
        } else {
            Err(Failed(self.problems))
        }
    }
}

/// Runs every check. Only read calls are made.
pub async fn check(clients: &Clients, req: &Request<'_>) -> Findings {
    let mut f = Findings::default();
    let region = clients.region.as_str();
    let name = req.instance_type.name;

    // Credentials and region first: without them every other call fails.
    let sts = aws_sdk_sts::Client::new(&clients.sdk);
    match sts
        .get_caller_identity()
        .send()
        .await
        .map_err(api("check the credentials (STS GetCallerIdentity)"))
    {
        Ok(id) => f.facts.push(format!(
            "AWS account {} in {region}",
            id.account().unwrap_or("?")
        )),
        Err(e) if e.is_auth() => {
            f.problems.push(e.to_string());
            return f;
        }
        Err(e) => {
            f.problems.push(format!(
                "{e}\nCheck the region name `{region}` (e.g. us-east-1) and the network, then run the command again."
            ));
            return f;
        }
    }

    if let Some(config) = req.config {
        if let Err(p) = user_data_fits(config, region) {
            f.problems.push(p);
        }
    }

    match default_vpc(clients).await {
        Ok(true) => {}
        Ok(false) => f.problems.push(format!(
            "no default VPC in {region}: skiff launches into the default VPC. Create one with \
             `aws ec2 create-default-vpc --region {region}`, or pick another region"
        )),
        Err(e) => f.problems.push(e.to_string()),
    }

    if req.new_address {
        match eip_room(clients).await {
            Ok((used, max)) if used >= max => f.problems.push(format!(
                "Elastic IP quota: {used} of {max} addresses are allocated in {region}, and skiff \
                 needs one more. Release one you do not use (`aws ec2 describe-addresses`, then \
                 `aws ec2 release-address --allocation-id eipalloc-...`; every address costs \
                 $0.005/h) or ask for more (Service Quotas, EC2, \"EC2-VPC Elastic IPs\")"
            )),
            Ok(_) => {}
            Err(e) => f.problems.push(e.to_string()),
        }
    }

    match crate::deploy::zone::offering_zones(clients, name, None).await {
        Ok(z) if z.is_empty() => f.problems.push(format!(
            "{name} is not offered in any Availability Zone of {region}: pick another type \
             (`--instance-type`, or instance_type in skiff.yaml) or another region"
        )),
        Ok(_) => {}
        Err(e) => f.problems.push(format!("{e:#}")),
    }

    match eligible_types(clients).await {
        Ok(eligible) => {
            let plan = match &req.plan {
                Some(p) => p.clone(),
                None => account_plan(clients).await,
            };
            // The legacy rule needs to know whether t2.micro exists here.
            let t2_here = if plan == Plan::Free {
                true
            } else {
                crate::deploy::zone::offering_zones(clients, "t2.micro", None)
                    .await
                    .map(|z| !z.is_empty())
                    .unwrap_or(true)
            };
            let v = free_tier(name, region, &eligible, &plan, t2_here);
            f.free_tier = match &plan {
                Plan::Free if eligible.iter().any(|e| e == name) => crate::cost::FreeTier::Covered,
                Plan::Paid if name == legacy_free_type(t2_here) => {
                    crate::cost::FreeTier::IfFirstYear
                }
                Plan::Unknown(_) => crate::cost::FreeTier::Unknown,
                _ => crate::cost::FreeTier::No,
            };
            match v {
                Verdict::Refuse(p) => f.problems.push(p),
                Verdict::Warn(w) => f.warnings.push(w),
                Verdict::Fact(x) => f.facts.push(x),
            }
        }
        Err(e) => f.warnings.push(format!(
            "{e}; cannot say whether {name} is free-tier eligible for this account"
        )),
    }

    if req.new_vcpus > 0 {
        match vcpu_room(clients).await {
            Ok(Some((used, quota))) if used + req.new_vcpus > quota => f.problems.push(format!(
                "On-Demand vCPU quota: {used} of {quota} vCPUs of Standard instances (A, C, D, H, \
                 I, M, R, T, Z) are running in {region}, and {name} needs {} more. Stop an \
                 instance you do not need, or ask for more (Service Quotas, EC2, \
                 {VCPU_QUOTA_CODE}, \"Running On-Demand Standard instances\")",
                req.new_vcpus
            )),
            Ok(Some(_)) => {}
            Ok(None) => f.warnings.push(format!(
                "the On-Demand vCPU quota ({VCPU_QUOTA_CODE}) was not checked: Service Quotas \
                 does not know it here"
            )),
            Err(e) => f.warnings.push(format!(
                "the On-Demand vCPU quota ({VCPU_QUOTA_CODE}) was not checked: {e}"
            )),
        }
    }
    f
}

/// The user data of `config`, rendered with the longest values the real
/// one can have, fits EC2's 16 KB.
fn user_data_fits(config: &Config, region: &str) -> Result<(), String> {
    let volume: DataVolumeId = "vol-0123456789abcdef0".parse().expect("a valid id");
    let logs = LogSettings::new(&config.name, region).ok();
    let security = crate::deploy::security::worst_case(config, region);
    let target = Target {
        advertised_host: "255.255.255.255",
        data_volume: Some(&volume),
        logs: logs.as_ref().filter(|_| config.log_retention_days > 0),
        security: security.as_ref(),
    };
    match Bundle::for_target(config, &target) {
        Ok(_) => Ok(()),
        Err(RenderError::TooLarge(n)) => Err(format!(
            "the user data would be {n} bytes, over EC2's limit of {MAX_USER_DATA}: \
             shorten broker.settings in skiff.yaml"
        )),
    }
}

async fn default_vpc(clients: &Clients) -> Result<bool, crate::aws::ApiError> {
    let out = clients
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .map_err(api("look for the default VPC"))?;
    Ok(!out.vpcs().is_empty())
}

/// (addresses allocated, the account's limit).
async fn eip_room(clients: &Clients) -> Result<(i64, i64), crate::aws::ApiError> {
    let attrs = clients
        .ec2
        .describe_account_attributes()
        .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from(
            "vpc-max-elastic-ips",
        ))
        .send()
        .await
        .map_err(api("read the Elastic IP limit (DescribeAccountAttributes)"))?;
    let max = attrs
        .account_attributes()
        .iter()
        .filter(|a| a.attribute_name() == Some("vpc-max-elastic-ips"))
        .flat_map(|a| a.attribute_values())
        .find_map(|v| v.attribute_value().and_then(|s| s.parse::<i64>().ok()))
        // AWS's default when the attribute is missing.
        .unwrap_or(5);
    let addrs = clients
        .ec2
        .describe_addresses()
        .send()
        .await
        .map_err(api("count the Elastic IPs (DescribeAddresses)"))?;
    Ok((addrs.addresses().len() as i64, max))
}

/// The instance types EC2 says are free-tier eligible here, sorted.
pub async fn eligible_types(clients: &Clients) -> Result<Vec<String>, crate::aws::ApiError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let out = clients
            .ec2
            .describe_instance_types()
            .filters(
                Filter::builder()
                    .name("free-tier-eligible")
                    .values("true")
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(api("list the free-tier-eligible instance types"))?;
        names.extend(
            out.instance_types()
                .iter()
                .filter_map(|t| t.instance_type().map(|n| n.as_str().to_string())),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The account's plan from the Free Tier API (its endpoint is in
/// us-east-1 only, whatever the deployment's region).
async fn account_plan(clients: &Clients) -> Plan {
    let conf = aws_sdk_freetier::config::Builder::from(&clients.sdk)
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let ft = aws_sdk_freetier::Client::from_conf(conf);
    match ft.get_account_plan_state().send().await {
        Ok(o) => match o.account_plan_type() {
            aws_sdk_freetier::types::AccountPlanType::Free => Plan::Free,
            aws_sdk_freetier::types::AccountPlanType::Paid => Plan::Paid,
            other => Plan::Unknown(format!("unknown plan type `{}`", other.as_str())),
        },
        Err(e) => {
            let e = api("read the account's plan (Free Tier GetAccountPlanState)")(e);
            tracing::debug!("{e}");
            Plan::Unknown(match &e.code {
                // e.g. AccessDeniedException: no freetier:GetAccountPlanState.
                Some(_) => e.detail.chars().take(200).collect(),
                None => "the Free Tier API gave no usable answer".into(),
            })
        }
    }
}

/// (vCPUs of running Standard instances, the quota), or None when
/// Service Quotas does not know the quota.
async fn vcpu_room(clients: &Clients) -> Result<Option<(i64, i64)>, crate::aws::ApiError> {
    let sq = aws_sdk_servicequotas::Client::new(&clients.sdk);
    let quota = match sq
        .get_service_quota()
        .service_code("ec2")
        .quota_code(VCPU_QUOTA_CODE)
        .send()
        .await
        .map_err(api("read the On-Demand vCPU quota (Service Quotas)"))
    {
        Ok(o) => match o.quota().and_then(|q| q.value()) {
            Some(v) => v as i64,
            None => return Ok(None),
        },
        Err(e) if e.code_is("NoSuchResourceException") => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut used = 0i64;
    let mut token: Option<String> = None;
    for _ in 0..50 {
        let out = clients
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("running")
                    .values("pending")
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(api("count the running instances' vCPUs"))?;
        for i in out.reservations().iter().flat_map(|r| r.instances()) {
            let t = i.instance_type().map(|t| t.as_str()).unwrap_or("");
            if !standard_family(t) {
                continue;
            }
            let vcpus = i
                .cpu_options()
                .and_then(|c| Some(c.core_count()? * c.threads_per_core()?))
                .map(i64::from)
                .or_else(|| crate::instance_types::lookup(t).map(|x| i64::from(x.vcpus)))
                .unwrap_or(2);
            used += vcpus;
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(Some((used, quota)))
}

/// The families the Standard quota counts (A, C, D, H, I, M, R, T, Z).
fn standard_family(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| "acdhimrtz".contains(c.to_ascii_lowercase()))
}

/// What the free-tier check says.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Refuse(String),
    Warn(String),
    Fact(String),
}

/// The legacy free tier's type in a region: t2.micro, or t3.micro where
/// t2.micro is not offered; t4g.micro never (AWS Free Tier FAQ).
pub fn legacy_free_type(t2_micro_here: bool) -> &'static str {
    if t2_micro_here {
        "t2.micro"
    } else {
        "t3.micro"
    }
}

/// Whether `name` is free for an account on `plan`, given the types EC2
/// lists as eligible.
pub fn free_tier(
    name: &str,
    region: &str,
    eligible: &[String],
    plan: &Plan,
    t2_micro_here: bool,
) -> Verdict {
    let is_eligible = eligible.iter().any(|e| e == name);
    let supported: Vec<&str> = eligible
        .iter()
        .map(String::as_str)
        .filter(|e| crate::instance_types::lookup(e).is_some())
        .collect();
    let list = if supported.is_empty() {
        "none of the types skiff supports".to_string()
    } else {
        supported.join(", ")
    };
    let legacy = legacy_free_type(t2_micro_here);
    let legacy_rule = format!(
        "accounts created before {FREE_PLAN_START} get 750 hours a month of {legacy} free \
         in their first 12 months, no other type"
    );
    match plan {
        Plan::Free if is_eligible => Verdict::Fact(format!(
            "free tier: {name} is free-tier eligible in {region}, and this account is on the \
             Free Plan: its hours are paid from the plan's credits, not billed"
        )),
        Plan::Free => Verdict::Refuse(format!(
            "{name} cannot be launched by this account: it is on AWS's Free Plan, which launches \
             only free-tier-eligible instance types (RunInstances would fail with \
             InvalidParameterCombination). Eligible in {region} and supported by skiff: {list}. \
             Fix: `--instance-type {}` (or instance_type in skiff.yaml), or upgrade the account \
             to the paid plan (Billing console)",
            supported.first().copied().unwrap_or("t3.micro")
        )),
        Plan::Paid if name == legacy => Verdict::Fact(format!(
            "free tier: this account is on a paid plan; {name} is free only if the account was \
             created before {FREE_PLAN_START} and is in its first 12 months (750 hours a month); \
             otherwise it is billed (Free Tier credits, if the account has any, are deducted)"
        )),
        Plan::Paid => Verdict::Fact(format!(
            "free tier: {name} is NOT free for this account (a paid plan; {legacy_rule}); its \
             hours are billed at the on-demand price (Free Tier credits, if any, are deducted)"
        )),
        Plan::Unknown(why) if is_eligible => Verdict::Warn(format!(
            "could not read the account's free-tier plan ({why}). {name} is free-tier eligible \
             in {region}: free (from credits) on a Free Plan account (created on or after \
             {FREE_PLAN_START}); on an older account it is free only if it is {legacy} \
             ({legacy_rule})"
        )),
        Plan::Unknown(why) => Verdict::Warn(format!(
            "could not read the account's free-tier plan ({why}). {name} is NOT free-tier \
             eligible in {region}: on a Free Plan account (created on or after \
             {FREE_PLAN_START}) the instance would fail to launch, so pick one of: {list}. On \
             an older account it is billed ({legacy_rule})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moto_eligible() -> Vec<String> {
        [
            "c7i-flex.large",
            "m7i-flex.large",
            "t3.micro",
            "t3.small",
            "t4g.micro",
            "t4g.small",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn free_plan_refuses_a_non_eligible_type_naming_the_eligible_ones() {
        let v = free_tier(
            "t3.medium",
            "us-east-1",
            &moto_eligible(),
            &Plan::Free,
            true,
        );
        let Verdict::Refuse(text) = v else {
            panic!("{v:?}")
        };
        assert!(
            text.contains("t3.micro, t3.small, t4g.micro, t4g.small"),
            "{text}"
        );
        assert!(!text.contains("c7i-flex"), "{text}");
        assert!(text.contains("--instance-type t3.micro"), "{text}");
    }

    #[test]
    fn free_plan_eligible_is_free() {
        let v = free_tier("t3.micro", "us-east-1", &moto_eligible(), &Plan::Free, true);
        assert!(matches!(v, Verdict::Fact(t) if t.contains("not billed")));
    }

    #[test]
    fn paid_accounts_follow_the_legacy_rule() {
        // us-east-1 has t2.micro: t3.micro is billed there.
        let v = free_tier("t3.micro", "us-east-1", &moto_eligible(), &Plan::Paid, true);
        assert!(matches!(&v, Verdict::Fact(t) if t.contains("NOT free") && t.contains("t2.micro")));
        // A region without t2.micro: t3.micro is the legacy type.
        let v = free_tier("t3.micro", "x", &moto_eligible(), &Plan::Paid, false);
        assert!(
            matches!(&v, Verdict::Fact(t) if t.contains("750 hours")),
            "{v:?}"
        );
        // t4g.micro never.
        let v = free_tier("t4g.micro", "x", &moto_eligible(), &Plan::Paid, false);
        assert!(matches!(&v, Verdict::Fact(t) if t.contains("NOT free")));
    }

    #[test]
    fn unknown_plan_warns_instead_of_refusing() {
        let v = free_tier(
            "t3.medium",
            "us-east-1",
            &moto_eligible(),
            &Plan::Unknown("no access".into()),
            true,
        );
        assert!(matches!(&v, Verdict::Warn(t) if t.contains("NOT free-tier eligible")));
    }

    #[test]
    fn standard_families() {
        assert!(standard_family("t3.micro"));
        assert!(standard_family("m7i-flex.large"));
        assert!(!standard_family("g5.xlarge"));
        assert!(!standard_family("p4d.24xlarge"));
    }

    #[test]
    fn failures_are_listed_together() {
        let e = Failed(vec!["a".into(), "b".into()]);
        assert_eq!(
            e.to_string(),
            "preflight: 2 problems must be fixed before anything is created (nothing was created):\n  1. a\n  2. b"
        );
    }
}
