//! `skiff iam-policy`: the least-privilege IAM policy for every AWS call
//! `skiff` makes, as JSON to attach to the user or role that runs it.
//!
//! One statement per service and scope. Where IAM supports resource-level
//! permissions by name, the resources are skiff's own names: the IAM roles
//! and instance profiles `skiff-*`, the SNS topics and CloudWatch alarms
//! `skiff-*`, the log groups `/skiff/*`, the deployments' SSM parameters
//! `/skiff/*` (TLS key and certificate; the SecureString uses the
//! AWS-managed key `aws/ssm`, which needs no KMS permission), and the
//! public SSM parameters of the Amazon Linux 2023 AMIs. EC2, DLM, Service Quotas and the Free Tier
//! API get `*`: most EC2 actions skiff uses take no name-based resource
//! (its resources have generated ids), and tag conditions would break the
//! create calls that tag on create (which need `ec2:CreateTags`).
//! `sts:GetCallerIdentity` needs no permission (AWS allows it always) and
//! is listed for clarity.
//!
//! The integration tests check every action `skiff` sends to moto against
//! this list (`tests/common/moto.rs`): a call added without its permission
//! fails them.

use serde_json::{json, Value};

/// One statement: its id, actions and resources.
pub struct Statement {
    pub sid: &'static str,
    pub actions: &'static [&'static str],
    pub resources: &'static [&'static str],
}

pub const STATEMENTS: &[Statement] = &[
    Statement {
        sid: "Ec2",
        actions: &[
            "ec2:AllocateAddress",
            "ec2:AssociateAddress",
            "ec2:AttachVolume",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:CreateSecurityGroup",
            "ec2:CreateSnapshot",
            "ec2:CreateTags",
            "ec2:CreateVolume",
            "ec2:DeleteSecurityGroup",
            "ec2:DeleteSnapshot",
            "ec2:DeleteTags",
            "ec2:DeleteVolume",
            "ec2:DescribeAccountAttributes",
            "ec2:DescribeAddresses",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceCreditSpecifications",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstances",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSnapshots",
            "ec2:DescribeSubnets",
            "ec2:DescribeVolumes",
            "ec2:DescribeVolumesModifications",
            "ec2:DescribeVpcs",
            "ec2:DetachVolume",
            "ec2:DisassociateAddress",
            "ec2:GetConsoleOutput",
            "ec2:ModifyInstanceAttribute",
            "ec2:ModifyInstanceCreditSpecification",
            "ec2:ModifyVolume",
            "ec2:ReleaseAddress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RunInstances",
            "ec2:StartInstances",
            "ec2:StopInstances",
            "ec2:TerminateInstances",
        ],
        resources: &["*"],
    },
    Statement {
        sid: "ReadParameters",
        actions: &["ssm:GetParameter"],
        resources: &[
            "arn:aws:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*",
            "arn:aws:ssm:*:*:parameter/skiff/*",
        ],
    },
    Statement {
        sid: "SkiffParameters",
        actions: &[
            "ssm:AddTagsToResource",
            "ssm:DeleteParameter",
            "ssm:PutParameter",
        ],
        resources: &["arn:aws:ssm:*:*:parameter/skiff/*"],
    },
    Statement {
        sid: "SkiffRolesAndProfiles",
        actions: &[
            "iam:AddRoleToInstanceProfile",
            "iam:AttachRolePolicy",
            "iam:CreateInstanceProfile",
            "iam:CreateRole",
            "iam:DeleteInstanceProfile",
            "iam:DeleteRole",
            "iam:DeleteRolePolicy",
            "iam:DetachRolePolicy",
            "iam:GetInstanceProfile",
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iam:PassRole",
            "iam:PutRolePolicy",
            "iam:RemoveRoleFromInstanceProfile",
            "iam:TagInstanceProfile",
            "iam:TagRole",
        ],
        resources: &[
            "arn:aws:iam::*:role/skiff-*",
            "arn:aws:iam::*:instance-profile/skiff-*",
        ],
    },
    Statement {
        sid: "SkiffLogGroups",
        actions: &[
            "logs:CreateLogGroup",
            "logs:DeleteLogGroup",
            "logs:FilterLogEvents",
            "logs:ListTagsForResource",
            "logs:PutRetentionPolicy",
            "logs:TagResource",
        ],
        resources: &["arn:aws:logs:*:*:log-group:/skiff/*"],
    },
    Statement {
        sid: "DescribeLogGroups",
        actions: &["logs:DescribeLogGroups"],
        resources: &["*"],
    },
    Statement {
        sid: "SkiffAlarms",
        actions: &[
            "cloudwatch:DeleteAlarms",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:TagResource",
        ],
        resources: &["arn:aws:cloudwatch:*:*:alarm:skiff-*"],
    },
    Statement {
        sid: "CloudWatchReads",
        actions: &["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"],
        resources: &["*"],
    },
    Statement {
        sid: "SkiffTopics",
        actions: &[
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:ListSubscriptionsByTopic",
            "sns:Subscribe",
            "sns:TagResource",
            "sns:Unsubscribe",
        ],
        resources: &["arn:aws:sns:*:*:skiff-*"],
    },
    Statement {
        sid: "ListTopics",
        actions: &["sns:ListTopics"],
        resources: &["*"],
    },
    Statement {
        sid: "BackupSchedule",
        actions: &[
            "dlm:CreateLifecyclePolicy",
            "dlm:DeleteLifecyclePolicy",
            "dlm:GetLifecyclePolicies",
            "dlm:GetLifecyclePolicy",
            "dlm:TagResource",
            "dlm:UpdateLifecyclePolicy",
        ],
        resources: &["*"],
    },
    Statement {
        sid: "Preflight",
        actions: &[
            "freetier:GetAccountPlanState",
            "servicequotas:GetServiceQuota",
            "sts:GetCallerIdentity",
        ],
        resources: &["*"],
    },
];

/// The policy document.
pub fn document() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": STATEMENTS.iter().map(|s| json!({
            "Sid": s.sid,
            "Effect": "Allow",
            "Action": s.actions,
            "Resource": if s.resources.len() == 1 { json!(s.resources[0]) } else { json!(s.resources) },
        })).collect::<Vec<_>>(),
    })
}

/// `skiff iam-policy`.
pub fn run(out: &crate::printer::Printer) -> anyhow::Result<()> {
    out.out(serde_json::to_string_pretty(&document())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_once_and_well_formed() {
        let mut all: Vec<&str> = STATEMENTS
            .iter()
            .flat_map(|s| s.actions.iter().copied())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "an action is listed twice");
        for a in all {
            let (svc, name) = a.split_once(':').unwrap();
            assert!(
                !svc.is_empty() && name.chars().next().unwrap().is_ascii_uppercase(),
                "{a}"
            );
            assert!(!a.contains('*'), "no wildcards: {a}");
        }
        let doc = document();
        assert_eq!(doc["Version"], "2012-10-17");
        // An IAM managed policy may be at most 6,144 characters (no spaces).
        let compact = serde_json::to_string(&doc).unwrap();
        assert!(compact.len() < 6144, "{}", compact.len());
    }
}
