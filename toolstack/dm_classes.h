/*
 * toolstack/dm_classes.h - private to dm_classes*.c: the short macros that make
 * one datamodel field one line, and the XenAPI enums shared by the class files.
 * Nothing outside the datamodel tables includes it; everyone else uses dm.h.
 */
#ifndef TS_DM_CLASSES_H
#define TS_DM_CLASSES_H

#include "atoll/util.h"
#include "dm.h"

#define STR (&ts_dm_t_string)
#define INT (&ts_dm_t_int)
#define FLOAT (&ts_dm_t_float)
#define BOOL (&ts_dm_t_bool)
#define DATETIME (&ts_dm_t_datetime)
#define ANY (&ts_dm_t_any)
#define REF(c) (&(const struct ts_dm_type){.kind = TS_DM_REF, .cls = (c)})
#define SET(t) (&(const struct ts_dm_type){.kind = TS_DM_SET, .elem = (t)})
#define MAP(k, v) (&(const struct ts_dm_type){.kind = TS_DM_MAP, .key = (k), .elem = (v)})
#define ENUM(n, ...) \
    {.kind = TS_DM_ENUM, .name = (n), .values = (const char *const[]){__VA_ARGS__, NULL}}

/* F("name", type, RW|SRO|DRO, optional .def = "...", .inverse = "...", .read_role = ...) */
#define F(n, t, q, ...) {.name = (n), .type = (t), .qual = TS_DM_##q, __VA_ARGS__}
/* M("name", "result type", "params after the session", least role or TS_ROLE_NONE) */
#define M(n, r, p, ro) {.name = (n), .result = (r), .params = (p), .role = (ro)}

static const struct ts_dm_type ts_dm_t_string = {.kind = TS_DM_STRING};
static const struct ts_dm_type ts_dm_t_int = {.kind = TS_DM_INT};
static const struct ts_dm_type ts_dm_t_float = {.kind = TS_DM_FLOAT};
static const struct ts_dm_type ts_dm_t_bool = {.kind = TS_DM_BOOL};
static const struct ts_dm_type ts_dm_t_datetime = {.kind = TS_DM_DATETIME};
static const struct ts_dm_type ts_dm_t_any = {.kind = TS_DM_ANY};

static const struct ts_dm_type e_cls = ENUM("cls", "VM", "Host", "SR", "Pool", "VMPP", "VMSS",
    "PVS_proxy", "VDI", "Certificate");
static const struct ts_dm_type e_console_protocol = ENUM("console_protocol", "vt100", "rfb", "rdp");
static const struct ts_dm_type e_domain_type = ENUM("domain_type", "hvm", "pv", "pv_in_pvh", "pvh",
    "unspecified");
static const struct ts_dm_type e_event_operation = ENUM("event_operation", "add", "del", "mod");
static const struct ts_dm_type e_host_allowed_operations = ENUM("host_allowed_operations",
    "provision", "evacuate", "shutdown", "reboot", "power_on", "vm_start", "vm_resume",
    "vm_migrate", "apply_updates", "enable");
static const struct ts_dm_type e_host_display = ENUM("host_display", "enabled", "disable_on_reboot",
    "disabled", "enable_on_reboot");
static const struct ts_dm_type e_host_numa_affinity_policy = ENUM("host_numa_affinity_policy",
    "any", "best_effort", "default_policy");
static const struct ts_dm_type e_ip_configuration_mode = ENUM("ip_configuration_mode", "None",
    "DHCP", "Static");
static const struct ts_dm_type e_ipv6_configuration_mode = ENUM("ipv6_configuration_mode", "None",
    "DHCP", "Static", "Autoconf");
static const struct ts_dm_type e_latest_synced_updates_applied_state = ENUM(
    "latest_synced_updates_applied_state", "yes", "no", "unknown");
static const struct ts_dm_type e_network_default_locking_mode = ENUM("network_default_locking_mode",
    "unlocked", "disabled");
static const struct ts_dm_type e_network_operations = ENUM("network_operations", "attaching");
static const struct ts_dm_type e_network_purpose = ENUM("network_purpose", "nbd", "insecure_nbd");
static const struct ts_dm_type e_on_boot = ENUM("on_boot", "reset", "persist");
static const struct ts_dm_type e_on_crash_behaviour = ENUM("on_crash_behaviour", "destroy",
    "coredump_and_destroy", "restart", "coredump_and_restart", "preserve", "rename_restart");
static const struct ts_dm_type e_on_normal_exit = ENUM("on_normal_exit", "destroy", "restart");
static const struct ts_dm_type e_on_softreboot_behavior = ENUM("on_softreboot_behavior",
    "soft_reboot", "destroy", "restart", "preserve");
static const struct ts_dm_type e_pif_igmp_status = ENUM("pif_igmp_status", "enabled", "disabled",
    "unknown");
static const struct ts_dm_type e_pool_allowed_operations = ENUM("pool_allowed_operations",
    "ha_enable", "ha_disable", "cluster_create", "designate_new_master", "configure_repositories",
    "sync_updates", "get_updates", "apply_updates", "tls_verification_enable", "cert_refresh",
    "exchange_certificates_on_join", "exchange_ca_certificates_on_join", "copy_primary_host_certs",
    "eject");
static const struct ts_dm_type e_primary_address_type = ENUM("primary_address_type", "IPv4",
    "IPv6");
static const struct ts_dm_type e_storage_operations = ENUM("storage_operations", "scan", "destroy",
    "forget", "plug", "unplug", "update", "vdi_create", "vdi_introduce", "vdi_destroy",
    "vdi_resize", "vdi_clone", "vdi_snapshot", "vdi_mirror", "vdi_enable_cbt", "vdi_disable_cbt",
    "vdi_data_destroy", "vdi_list_changed_blocks", "vdi_set_on_boot", "pbd_create", "pbd_destroy");
static const struct ts_dm_type e_task_allowed_operations = ENUM("task_allowed_operations", "cancel",
    "destroy");
static const struct ts_dm_type e_task_status_type = ENUM("task_status_type", "pending", "success",
    "failure", "cancelling", "cancelled");
static const struct ts_dm_type e_telemetry_frequency = ENUM("telemetry_frequency", "daily",
    "weekly", "monthly");
static const struct ts_dm_type e_tristate_type = ENUM("tristate_type", "yes", "no", "unspecified");
static const struct ts_dm_type e_update_guidances = ENUM("update_guidances", "reboot_host",
    "reboot_host_on_livepatch_failure", "reboot_host_on_kernel_livepatch_failure",
    "reboot_host_on_xen_livepatch_failure", "restart_toolstack", "restart_device_model",
    "restart_vm");
static const struct ts_dm_type e_update_sync_frequency = ENUM("update_sync_frequency", "daily",
    "weekly");
static const struct ts_dm_type e_vbd_mode = ENUM("vbd_mode", "RO", "RW");
static const struct ts_dm_type e_vbd_operations = ENUM("vbd_operations", "attach", "eject",
    "insert", "plug", "unplug", "unplug_force", "pause", "unpause");
static const struct ts_dm_type e_vbd_type = ENUM("vbd_type", "CD", "Disk", "Floppy");
static const struct ts_dm_type e_vdi_operations = ENUM("vdi_operations", "clone", "copy", "resize",
    "resize_online", "snapshot", "mirror", "destroy", "forget", "update", "force_unlock",
    "generate_config", "enable_cbt", "disable_cbt", "data_destroy", "list_changed_blocks",
    "set_on_boot", "blocked");
static const struct ts_dm_type e_vdi_type = ENUM("vdi_type", "system", "user", "ephemeral",
    "suspend", "crashdump", "ha_statefile", "metadata", "redo_log", "rrd", "pvs_cache",
    "cbt_metadata");
static const struct ts_dm_type e_vif_ipv4_configuration_mode = ENUM("vif_ipv4_configuration_mode",
    "None", "Static");
static const struct ts_dm_type e_vif_ipv6_configuration_mode = ENUM("vif_ipv6_configuration_mode",
    "None", "Static");
static const struct ts_dm_type e_vif_locking_mode = ENUM("vif_locking_mode", "network_default",
    "locked", "unlocked", "disabled");
static const struct ts_dm_type e_vif_operations = ENUM("vif_operations", "attach", "plug",
    "unplug");
static const struct ts_dm_type e_vm_operations = ENUM("vm_operations", "snapshot", "clone", "copy",
    "create_template", "revert", "checkpoint", "snapshot_with_quiesce", "provision", "start",
    "start_on", "pause", "unpause", "clean_shutdown", "clean_reboot", "hard_shutdown",
    "power_state_reset", "hard_reboot", "suspend", "csvm", "resume", "resume_on", "pool_migrate",
    "migrate_send", "get_boot_record", "send_sysrq", "send_trigger", "query_services", "shutdown",
    "call_plugin", "changing_memory_live", "awaiting_memory_live", "changing_dynamic_range",
    "changing_static_range", "changing_memory_limits", "changing_shadow_memory",
    "changing_shadow_memory_live", "changing_VCPUs", "changing_VCPUs_live", "changing_NVRAM",
    "assert_operation_valid", "data_source_op", "update_allowed_operations", "make_into_template",
    "import", "export", "metadata_export", "reverting", "destroy", "create_vtpm");
static const struct ts_dm_type e_vm_power_state = ENUM("vm_power_state", "Halted", "Paused",
    "Running", "Suspended");
static const struct ts_dm_type e_allocation_algorithm = ENUM("allocation_algorithm",
    "breadth_first", "depth_first");
static const struct ts_dm_type e_bond_mode = ENUM("bond_mode", "balance-slb", "active-backup",
    "lacp");
static const struct ts_dm_type e_persistence_backend = ENUM("persistence_backend", "xapi");
static const struct ts_dm_type e_pgpu_dom0_access = ENUM("pgpu_dom0_access", "enabled",
    "disable_on_reboot", "disabled", "enable_on_reboot");
static const struct ts_dm_type e_vgpu_type_implementation = ENUM("vgpu_type_implementation",
    "passthrough", "nvidia", "nvidia_sriov", "gvt_g", "mxgpu");
static const struct ts_dm_type e_vm_appliance_operation = ENUM("vm_appliance_operation", "start",
    "clean_shutdown", "hard_shutdown", "shutdown");
static const struct ts_dm_type e_vtpm_operations = ENUM("vtpm_operations", "destroy");

extern const struct ts_dm_class ts_dm_class_session;
extern const struct ts_dm_class ts_dm_class_pool;
extern const struct ts_dm_class ts_dm_class_host;
extern const struct ts_dm_class ts_dm_class_host_metrics;
extern const struct ts_dm_class ts_dm_class_host_cpu;
extern const struct ts_dm_class ts_dm_class_task;
extern const struct ts_dm_class ts_dm_class_event;
extern const struct ts_dm_class ts_dm_class_message;
extern const struct ts_dm_class ts_dm_class_role;
extern const struct ts_dm_class ts_dm_class_subject;
extern const struct ts_dm_class ts_dm_class_secret;
extern const struct ts_dm_class ts_dm_class_console;
extern const struct ts_dm_class ts_dm_class_blob;
extern const struct ts_dm_class ts_dm_class_VM;
extern const struct ts_dm_class ts_dm_class_VM_metrics;
extern const struct ts_dm_class ts_dm_class_VM_guest_metrics;
extern const struct ts_dm_class ts_dm_class_VBD;
extern const struct ts_dm_class ts_dm_class_VDI;
extern const struct ts_dm_class ts_dm_class_SR;
extern const struct ts_dm_class ts_dm_class_PBD;
extern const struct ts_dm_class ts_dm_class_VIF;
extern const struct ts_dm_class ts_dm_class_network;
extern const struct ts_dm_class ts_dm_class_PIF;
extern const struct ts_dm_class ts_dm_class_Bond;
extern const struct ts_dm_class ts_dm_class_VLAN;
extern const struct ts_dm_class ts_dm_class_VM_appliance;
extern const struct ts_dm_class ts_dm_class_DR_task;
extern const struct ts_dm_class ts_dm_class_PGPU;
extern const struct ts_dm_class ts_dm_class_GPU_group;
extern const struct ts_dm_class ts_dm_class_VGPU;
extern const struct ts_dm_class ts_dm_class_VGPU_type;
extern const struct ts_dm_class ts_dm_class_VTPM;
extern const struct ts_dm_class ts_dm_class_SM;
extern const struct ts_dm_class ts_dm_class_PCI;

#endif
