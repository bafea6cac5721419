//! The broker's data volume: an encrypted gp3 EBS volume, tagged like
//! every Skiff resource plus `skiff:role=data`, that outlives instances.
//!
//! `up` step 5 ([`ensure`]) finds it, reuses one kept by `down --keep-data`,
//! or creates it in the zone chosen for the instance; and grows it online
//! (ModifyVolume) when `volume_size_gb` is raised: the instance grows its
//! file system within 10 minutes (`skiff-data-grow.timer`). `up` step 8
//! ([`attach`]) moves it to the instance that should run the broker:
//! detached only from a *stopped* instance, attached as
//! `render::DATA_VOLUME_DEVICE`, with DeleteOnTermination off.
//!
//! A gp3 volume attaches to one instance at a time (Multi-Attach is io1/io2
//! only: Amazon EBS User Guide, "Attach a volume to multiple instances with
//! Amazon EBS Multi-Attach"), so AWS itself refuses a second writer; the
//! order of the replacement (stop the old instance, detach, attach) makes
//! sure the one writer stopped cleanly before the volume moves.

use crate::aws::inventory::{Instance, Inventory};
use crate::aws::{api, tags, Clients};
use crate::config::Config;
use crate::deploy::zone::{self, Placement};
use crate::printer::Progress;
use crate::render::DATA_VOLUME_DEVICE;
use crate::runner::{Impact, Outcome};
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::error::DisplayErrorContext;
use aws_sdk_ec2::types::{
    EbsInstanceBlockDeviceSpecification, InstanceBlockDeviceMappingSpecification,
    InstanceStateName, ResourceType, Tag, VolumeModificationState, VolumeType,
};
use std::time::Duration;

const VOLUME_TIMEOUT: Duration = Duration::from_secs(300);
/// AWS: "After modifying a volume, you must wait at least six hours and
/// ensure that the volume is in the in-use or available state before you
/// can modify the same volume" (EC2 API Reference, ModifyVolume).
pub const MODIFY_COOLDOWN_S: i64 = 6 * 3600;
/// Stands in for the id of a volume a dry run would create.
pub const PLANNED_ID: &str = "vol-00000000";

/// The data volume as the later steps need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataVolume {
    pub id: String,
    pub placement: Placement,
    pub size_gib: i32,
    /// Not created yet (dry run).
    pub planned: bool,
}

/// Finds, reuses or creates the data volume, and grows it to the config.
/// None for a deployment made before data volumes (its data is on the
/// root volume of its instance, which `up` then never replaces).
pub async fn ensure(
    clients: &Clients,
    config: &Config,
    dry_run: bool,
    inv: &Inventory,
    instance_type: &str,
    ui: &Progress,
) -> Result<(Option<DataVolume>, Outcome)> {
    let want = config.volume_size_gb as i32;
    let legacy = inv.instances.iter().find(|i| i.is_legacy());
    if let (Some(i), None) = (legacy, inv.data_volume()) {
        return Ok((
            None,
            Outcome::found(format!(
                "none: {} keeps its data on its root volume (made before data volumes; \
                 see \"Deployments made before data volumes\" in the README)",
                i.id
            )),
        ));
    }

    if let Some(v) = inv.data_volume() {
        ui.set(format!("checking {}", v.id));
        let placement = placement_of(clients, &v.zone, instance_type, dry_run).await?;
        let mut dv = DataVolume {
            id: v.id.clone(),
            placement,
            size_gib: v.size_gib,
            planned: false,
        };
        let grown = grow(clients, &v.id, v.size_gib, want, dry_run, ui).await?;
        return Ok(match grown {
            Some(text) => {
                dv.size_gib = want;
                (Some(dv), Outcome::with(Impact::InPlace, text))
            }
            None => {
                let text = format!("found {} ({} GiB, {})", v.id, v.size_gib, v.zone);
                (Some(dv), Outcome::found(text))
            }
        });
    }

    if let Some(v) = inv.kept_data_volumes().first() {
        let placement = placement_of(clients, &v.zone, instance_type, dry_run).await?;
        let others = inv.kept_data_volumes().len() - 1;
        let note = if others > 0 {
            format!("; {others} older kept volume(s) stay kept (`skiff status` lists them)")
        } else {
            String::new()
        };
        if dry_run {
            return Ok((
                Some(DataVolume {
                    id: v.id.clone(),
                    placement,
                    size_gib: v.size_gib,
                    planned: false,
                }),
                Outcome::with(
                    Impact::InPlace,
                    format!(
                        "would reuse {} ({} GiB, kept by `down --keep-data`){note}",
                        v.id, v.size_gib
                    ),
                ),
            ));
        }
        clients
            .ec2
            .delete_tags()
            .resources(&v.id)
            .tags(Tag::builder().key(tags::KEPT_KEY).build())
            .send()
            .await
            .map_err(api("take the kept tag off the data volume"))?;
        clients
            .ec2
            .create_tags()
            .resources(&v.id)
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("{}-data", config.name))
                    .build(),
            )
            .send()
            .await
            .map_err(api("name the data volume"))?;
        let mut text = format!(
            "reusing {} ({} GiB, kept by `down --keep-data`){note}",
            v.id, v.size_gib
        );
        if let Some(g) = grow(clients, &v.id, v.size_gib, want, false, ui).await? {
            text.push_str("; ");
            text.push_str(&g);
        }
        return Ok((
            Some(DataVolume {
                id: v.id.clone(),
                placement,
                size_gib: v.size_gib.max(want),
                planned: false,
            }),
            Outcome::with(Impact::InPlace, text),
        ));
    }

    ui.set("choosing an Availability Zone");
    let placement = zone::choose(clients, instance_type).await?;
    let what = format!(
        "{want} GiB encrypted gp3 in {} (DeleteOnTermination off)",
        placement.zone
    );
    if dry_run {
        return Ok((
            Some(DataVolume {
                id: PLANNED_ID.into(),
                placement,
                size_gib: want,
                planned: true,
            }),
            Outcome::with(Impact::Create, format!("would create {what}")),
        ));
    }
    ui.set("creating");
    let id = create(clients, &config.name, &placement.zone, want, None).await?;
    Ok((
        Some(DataVolume {
            id: id.clone(),
            placement,
            size_gib: want,
            planned: false,
        }),
        Outcome::with(Impact::Create, format!("created {id}: {what}")),
    ))
}

/// Creates a data volume for deployment `name` in `zone` (from `snapshot`
/// if given) and waits until it is available. Returns its id.
pub async fn create(
    clients: &Clients,
    name: &str,
    zone: &str,
    size_gib: i32,
    snapshot: Option<&str>,
) -> Result<String> {
    let out = clients
        .ec2
        .create_volume()
        .availability_zone(zone)
        .size(size_gib)
        .volume_type(VolumeType::Gp3)
        .encrypted(true)
        .set_snapshot_id(snapshot.map(str::to_string))
        .tag_specifications(tags::spec_with(
            ResourceType::Volume,
            name,
            Some("data"),
            &[(tags::ROLE_KEY, tags::ROLE_DATA)],
        ))
        .send()
        .await
        .map_err(api("create the data volume"))?;
    let id = out.volume_id().unwrap_or_default().to_string();
    wait_available(clients, &id).await?;
    Ok(id)
}

async fn placement_of(
    clients: &Clients,
    zone: &str,
    instance_type: &str,
    dry_run: bool,
) -> Result<Placement> {
    match zone::in_zone(clients, zone, instance_type).await {
        Ok(p) => Ok(p),
        // A plan still shows what it can; the launch would fail.
        Err(_) if dry_run => Ok(Placement {
            zone: zone.to_string(),
            subnet_id: "<no subnet>".into(),
        }),
        Err(e) => Err(e),
    }
}

pub async fn wait_available(clients: &Clients, id: &str) -> Result<()> {
    clients
        .ec2
        .wait_until_volume_available()
        .volume_ids(id)
        .wait(VOLUME_TIMEOUT)
        .await
        .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
        .with_context(|| format!("waiting for {id} to be available"))?;
    Ok(())
}

/// Grows volume `id` from `size` to `want` GiB (ModifyVolume) if allowed
/// now. Returns the change's text, or None when there is nothing to do
/// (or nothing that can be done now; then it says why as a warning).
async fn grow(
    clients: &Clients,
    id: &str,
    size: i32,
    want: i32,
    dry_run: bool,
    ui: &Progress,
) -> Result<Option<String>> {
    if want < size {
        ui.warn(format!(
            "volume_size_gb is {want} but data volume {id} is {size} GiB: EBS volumes cannot \
             shrink; set volume_size_gb: {size}"
        ));
        return Ok(None);
    }
    // The last modification, if any: one in progress, or one started less
    // than six hours ago, blocks another.
    let mods = clients
        .ec2
        .describe_volumes_modifications()
        .volume_ids(id)
        .send()
        .await
        .map_err(api("read the data volume's modifications"));
    let last = match mods {
        Ok(out) => out
            .volumes_modifications()
            .iter()
            .max_by_key(|m| m.start_time().map(|t| t.secs()).unwrap_or(0))
            .cloned(),
        Err(e) if e.code_is("InvalidVolumeModification.NotFound") => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(m) = &last {
        let busy = matches!(
            m.modification_state(),
            Some(VolumeModificationState::Modifying | VolumeModificationState::Optimizing)
        );
        let target = m.target_size().unwrap_or(0);
        if busy && target >= want {
            return Ok(None);
        }
        if want > size {
            let started = m.start_time().map(|t| t.secs()).unwrap_or(0);
            let since = crate::age::now_s() - started;
            if busy || since < MODIFY_COOLDOWN_S {
                let wait = (MODIFY_COOLDOWN_S - since).max(0);
                ui.warn(format!(
                    "data volume {id} cannot grow to {want} GiB yet: AWS allows one modification \
                     per volume every 6 hours and the last one ({} GiB) started {} ago{}; run \
                     `skiff up` again in {}",
                    target,
                    crate::age::short(since),
                    if busy {
                        " and is still in progress"
                    } else {
                        ""
                    },
                    crate::age::short(wait.max(60)),
                ));
                return Ok(None);
            }
        }
    }
    if want == size {
        return Ok(None);
    }
    let text = format!(
        "{} {id} from {size} to {want} GiB online (the instance grows its file system within 10 minutes)",
        if dry_run { "would grow" } else { "grew" }
    );
    if !dry_run {
        ui.set(format!("growing {id} to {want} GiB"));
        clients
            .ec2
            .modify_volume()
            .volume_id(id)
            .size(want)
            .send()
            .await
            .map_err(api("grow the data volume"))?;
    }
    Ok(Some(text))
}

/// Makes sure data volume `id` is attached to instance `target` (and only
/// there), with DeleteOnTermination off. Detaches it from another
/// instance only if that instance is stopped.
pub async fn attach(
    clients: &Clients,
    dry_run: bool,
    name: &str,
    volume_id: &str,
    target: &str,
    ui: &Progress,
) -> Result<Outcome> {
    let inv = Inventory::load(clients, name).await?;
    let Some(vol) = inv.volumes.iter().find(|v| v.id == volume_id) else {
        if dry_run {
            return Ok(Outcome::with(
                Impact::InPlace,
                format!("would attach the new data volume to {target}"),
            ));
        }
        bail!("data volume {volume_id} is gone; run `skiff up` again to make a new one");
    };
    let mut done = Vec::new();
    if let Some(holder) = vol.attached_to.as_deref().filter(|h| *h != target) {
        let state = inv
            .instances
            .iter()
            .find(|i| i.id == holder)
            .map(|i| i.state.clone());
        if dry_run {
            return Ok(Outcome::with(
                Impact::Replace,
                format!("would move {volume_id} from {holder} (once stopped) to {target}"),
            ));
        }
        if state != Some(InstanceStateName::Stopped) && state.is_some() {
            // Never pull a mounted volume from under a running broker.
            bail!(
                "data volume {volume_id} is attached to {holder}, which is {} and not stopped; \
                 run `skiff up` again (it stops that instance cleanly first)",
                state.map(|s| s.as_str().to_string()).unwrap_or_default()
            );
        }
        ui.set(format!("detaching {volume_id} from {holder}"));
        match clients
            .ec2
            .detach_volume()
            .volume_id(volume_id)
            .instance_id(holder)
            .send()
            .await
            .map_err(api("detach the data volume"))
        {
            Ok(_) => {}
            Err(e) if e.code_is("IncorrectState") => {}
            Err(e) => return Err(e.into()),
        }
        wait_available(clients, volume_id).await?;
        done.push(format!("detached {volume_id} from {holder}"));
    }
    let attached_here = vol.attached_to.as_deref() == Some(target);
    if !attached_here {
        if dry_run {
            return Ok(Outcome::with(
                Impact::InPlace,
                format!("would attach {volume_id} to {target} as {DATA_VOLUME_DEVICE}"),
            ));
        }
        ui.set(format!("attaching {volume_id} to {target}"));
        clients
            .ec2
            .attach_volume()
            .volume_id(volume_id)
            .instance_id(target)
            .device(DATA_VOLUME_DEVICE)
            .send()
            .await
            .map_err(api("attach the data volume"))?;
        clients
            .ec2
            .wait_until_volume_in_use()
            .volume_ids(volume_id)
            .wait(VOLUME_TIMEOUT)
            .await
            .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
            .with_context(|| format!("waiting for {volume_id} to be attached"))?;
        done.push(format!(
            "attached {volume_id} to {target} as {DATA_VOLUME_DEVICE}"
        ));
    }
    // DeleteOnTermination is off for a volume attached after launch, but a
    // change by hand would make terminating the instance delete the data.
    let instance = crate::aws::inventory::Inventory::load(clients, name)
        .await?
        .instances
        .into_iter()
        .find(|i| i.id == target);
    if let Some(i) = instance {
        if let Some(text) = keep_on_termination(clients, dry_run, &i, volume_id).await? {
            done.push(text);
        }
    }
    if done.is_empty() {
        return Ok(Outcome::found(format!(
            "{volume_id} is attached to {target}"
        )));
    }
    let impact = if done.iter().any(|d| d.starts_with("detached")) {
        Impact::Replace
    } else {
        Impact::InPlace
    };
    Ok(Outcome::with(impact, done.join("; ")))
}

/// Turns DeleteOnTermination off for `volume_id` on `instance` if it is on.
pub async fn keep_on_termination(
    clients: &Clients,
    dry_run: bool,
    instance: &Instance,
    volume_id: &str,
) -> Result<Option<String>> {
    let Some(bd) = instance
        .block_devices
        .iter()
        .find(|b| b.volume_id == volume_id && b.delete_on_termination)
    else {
        return Ok(None);
    };
    if !dry_run {
        clients
            .ec2
            .modify_instance_attribute()
            .instance_id(&instance.id)
            .block_device_mappings(
                InstanceBlockDeviceMappingSpecification::builder()
                    .device_name(&bd.device)
                    .ebs(
                        EbsInstanceBlockDeviceSpecification::builder()
                            .delete_on_termination(false)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(api("keep the data volume on termination"))?;
    }
    Ok(Some(format!(
        "{} DeleteOnTermination off for {volume_id}",
        if dry_run { "would turn" } else { "turned" }
    )))
}
