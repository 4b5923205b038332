/*
 * toolstack/dm_classes_ext.c - the datamodel table, part 3: classes beyond
 * the core set that clients such as Xen Orchestra list and later work builds
 * on: bonds and VLANs, GPUs (PGPU, GPU_group, VGPU, VGPU_type), PCI devices,
 * vTPMs, storage drivers (SM), VM appliances and DR tasks. XenAPI's names and
 * types; changing anything means bumping TS_DM_SCHEMA_VERSION.
 */
#include "dm_classes.h"

/* ---- Bond ---- */
static const struct ts_dm_field bond_fields[] = {
    F("uuid", STR, DRO),
    F("master", REF("PIF"), SRO),
    F("slaves", SET(REF("PIF")), DRO),
    F("other_config", MAP(STR, STR), RW),
    F("primary_slave", REF("PIF"), DRO),
    F("mode", &e_bond_mode, DRO, .def = "balance-slb"),
    F("properties", MAP(STR, STR), DRO),
    F("links_up", INT, DRO),
    F("auto_update_mac", BOOL, DRO),
};
static const struct ts_dm_message bond_messages[] = {
    M("create", "Bond ref",
      "network ref network, PIF ref set members, string MAC, enum bond_mode mode, "
      "(string -> string) map properties", TS_ROLE_NONE),
    M("destroy", "void", "Bond ref self", TS_ROLE_NONE),
    M("set_mode", "void", "Bond ref self, enum bond_mode value", TS_ROLE_NONE),
    M("set_property", "void", "Bond ref self, string name, string value", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_Bond = {
    .name = "Bond",
    .fields = bond_fields,
    .nfields = ATOLL_ARRAY_SIZE(bond_fields),
    .messages = bond_messages,
    .nmessages = ATOLL_ARRAY_SIZE(bond_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- VLAN ---- */
static const struct ts_dm_field vlan_fields[] = {
    F("uuid", STR, DRO),
    F("tagged_PIF", REF("PIF"), SRO, .inverse = "VLAN_slave_of"),
    F("untagged_PIF", REF("PIF"), DRO),
    F("tag", INT, SRO),
    F("other_config", MAP(STR, STR), RW),
};
static const struct ts_dm_message vlan_messages[] = {
    M("create", "VLAN ref", "PIF ref tagged_PIF, int tag, network ref network", TS_ROLE_NONE),
    M("destroy", "void", "VLAN ref self", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_VLAN = {
    .name = "VLAN",
    .fields = vlan_fields,
    .nfields = ATOLL_ARRAY_SIZE(vlan_fields),
    .messages = vlan_messages,
    .nmessages = ATOLL_ARRAY_SIZE(vlan_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- VM_appliance ---- */
static const struct ts_dm_field vm_appliance_fields[] = {
    F("uuid", STR, DRO),
    F("name_label", STR, RW),
    F("name_description", STR, RW),
    F("allowed_operations", SET(&e_vm_appliance_operation), DRO),
    F("current_operations", MAP(STR, &e_vm_appliance_operation), DRO),
    F("VMs", SET(REF("VM")), DRO),
};
static const struct ts_dm_message vm_appliance_messages[] = {
    M("assert_can_be_recovered", "void",
      "VM_appliance ref self, session ref session_to", TS_ROLE_NONE),
    M("clean_shutdown", "void", "VM_appliance ref self", TS_ROLE_NONE),
    M("get_SRs_required_for_recovery", "SR ref set",
      "VM_appliance ref self, session ref session_to", TS_ROLE_NONE),
    M("hard_shutdown", "void", "VM_appliance ref self", TS_ROLE_NONE),
    M("recover", "void", "VM_appliance ref self, session ref session_to, bool force", TS_ROLE_NONE),
    M("shutdown", "void", "VM_appliance ref self", TS_ROLE_NONE),
    M("start", "void", "VM_appliance ref self, bool paused", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_VM_appliance = {
    .name = "VM_appliance",
    .fields = vm_appliance_fields,
    .nfields = ATOLL_ARRAY_SIZE(vm_appliance_fields),
    .messages = vm_appliance_messages,
    .nmessages = ATOLL_ARRAY_SIZE(vm_appliance_messages),
    .flags = TS_DM_C_CREATE | TS_DM_C_DESTROY,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_VM_POWER_ADMIN,
    .create_role = TS_ROLE_VM_POWER_ADMIN,
};

/* ---- DR_task ---- */
static const struct ts_dm_field dr_task_fields[] = {
    F("uuid", STR, DRO),
    F("introduced_SRs", SET(REF("SR")), DRO),
};
static const struct ts_dm_message dr_task_messages[] = {
    M("create", "DR_task ref",
      "string type, (string -> string) map device_config, string set whitelist", TS_ROLE_NONE),
    M("destroy", "void", "DR_task ref self", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_DR_task = {
    .name = "DR_task",
    .fields = dr_task_fields,
    .nfields = ATOLL_ARRAY_SIZE(dr_task_fields),
    .messages = dr_task_messages,
    .nmessages = ATOLL_ARRAY_SIZE(dr_task_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- PGPU ---- */
static const struct ts_dm_field pgpu_fields[] = {
    F("uuid", STR, DRO),
    F("PCI", REF("PCI"), SRO),
    F("GPU_group", REF("GPU_group"), SRO, .inverse = "PGPUs"),
    F("host", REF("host"), DRO, .inverse = "PGPUs"),
    F("other_config", MAP(STR, STR), RW),
    F("supported_VGPU_types", SET(REF("VGPU_type")), DRO),
    F("enabled_VGPU_types", SET(REF("VGPU_type")), DRO),
    F("resident_VGPUs", SET(REF("VGPU")), DRO),
    F("supported_VGPU_max_capacities", MAP(REF("VGPU_type"), INT), DRO),
    F("dom0_access", &e_pgpu_dom0_access, DRO, .def = "enabled"),
    F("is_system_display_device", BOOL, DRO),
    F("compatibility_metadata", MAP(STR, STR), DRO),
};
static const struct ts_dm_message pgpu_messages[] = {
    M("add_enabled_VGPU_types", "void", "PGPU ref self, VGPU_type ref value", TS_ROLE_NONE),
    M("disable_dom0_access", "enum pgpu_dom0_access", "PGPU ref self", TS_ROLE_NONE),
    M("enable_dom0_access", "enum pgpu_dom0_access", "PGPU ref self", TS_ROLE_NONE),
    M("get_remaining_capacity", "int", "PGPU ref self, VGPU_type ref vgpu_type", TS_ROLE_NONE),
    M("remove_enabled_VGPU_types", "void", "PGPU ref self, VGPU_type ref value", TS_ROLE_NONE),
    M("set_GPU_group", "void", "PGPU ref self, GPU_group ref value", TS_ROLE_NONE),
    M("set_enabled_VGPU_types", "void", "PGPU ref self, VGPU_type ref set value", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_PGPU = {
    .name = "PGPU",
    .fields = pgpu_fields,
    .nfields = ATOLL_ARRAY_SIZE(pgpu_fields),
    .messages = pgpu_messages,
    .nmessages = ATOLL_ARRAY_SIZE(pgpu_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- GPU_group ---- */
static const struct ts_dm_field gpu_group_fields[] = {
    F("uuid", STR, DRO),
    F("name_label", STR, RW),
    F("name_description", STR, RW),
    F("PGPUs", SET(REF("PGPU")), DRO),
    F("VGPUs", SET(REF("VGPU")), DRO),
    F("GPU_types", SET(STR), DRO),
    F("other_config", MAP(STR, STR), RW),
    F("allocation_algorithm", &e_allocation_algorithm, RW, .def = "depth_first"),
    F("supported_VGPU_types", SET(REF("VGPU_type")), DRO),
    F("enabled_VGPU_types", SET(REF("VGPU_type")), DRO),
};
static const struct ts_dm_message gpu_group_messages[] = {
    M("create", "GPU_group ref",
      "string name_label, string name_description, (string -> string) map other_config",
      TS_ROLE_NONE),
    M("destroy", "void", "GPU_group ref self", TS_ROLE_NONE),
    M("get_remaining_capacity", "int", "GPU_group ref self, VGPU_type ref vgpu_type", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_GPU_group = {
    .name = "GPU_group",
    .fields = gpu_group_fields,
    .nfields = ATOLL_ARRAY_SIZE(gpu_group_fields),
    .messages = gpu_group_messages,
    .nmessages = ATOLL_ARRAY_SIZE(gpu_group_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- VGPU ---- */
static const struct ts_dm_field vgpu_fields[] = {
    F("uuid", STR, DRO),
    F("VM", REF("VM"), DRO, .inverse = "VGPUs"),
    F("GPU_group", REF("GPU_group"), DRO, .inverse = "VGPUs"),
    F("device", STR, DRO),
    F("currently_attached", BOOL, DRO),
    F("other_config", MAP(STR, STR), RW),
    F("type", REF("VGPU_type"), DRO),
    F("resident_on", REF("PGPU"), DRO, .inverse = "resident_VGPUs"),
    F("scheduled_to_be_resident_on", REF("PGPU"), DRO),
    F("compatibility_metadata", MAP(STR, STR), DRO),
    F("extra_args", STR, RW),
    F("PCI", REF("PCI"), DRO),
};
static const struct ts_dm_message vgpu_messages[] = {
    M("create", "VGPU ref",
      "VM ref VM, GPU_group ref GPU_group, string device, "
      "(string -> string) map other_config, VGPU_type ref type", TS_ROLE_NONE),
    M("destroy", "void", "VGPU ref self", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_VGPU = {
    .name = "VGPU",
    .fields = vgpu_fields,
    .nfields = ATOLL_ARRAY_SIZE(vgpu_fields),
    .messages = vgpu_messages,
    .nmessages = ATOLL_ARRAY_SIZE(vgpu_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_VM_ADMIN,
    .create_role = TS_ROLE_VM_ADMIN,
};

/* ---- VGPU_type ---- */
static const struct ts_dm_field vgpu_type_fields[] = {
    F("uuid", STR, DRO),
    F("vendor_name", STR, SRO),
    F("model_name", STR, SRO),
    F("framebuffer_size", INT, SRO),
    F("max_heads", INT, SRO),
    F("max_resolution_x", INT, SRO),
    F("max_resolution_y", INT, SRO),
    F("supported_on_PGPUs", SET(REF("PGPU")), DRO),
    F("enabled_on_PGPUs", SET(REF("PGPU")), DRO),
    F("VGPUs", SET(REF("VGPU")), DRO),
    F("supported_on_GPU_groups", SET(REF("GPU_group")), DRO),
    F("enabled_on_GPU_groups", SET(REF("GPU_group")), DRO),
    F("implementation", &e_vgpu_type_implementation, SRO, .def = "passthrough"),
    F("identifier", STR, SRO),
    F("experimental", BOOL, SRO),
    F("compatible_types_in_vm", SET(REF("VGPU_type")), DRO),
};
const struct ts_dm_class ts_dm_class_VGPU_type = {
    .name = "VGPU_type",
    .fields = vgpu_type_fields,
    .nfields = ATOLL_ARRAY_SIZE(vgpu_type_fields),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- VTPM ---- */
static const struct ts_dm_field vtpm_fields[] = {
    F("uuid", STR, DRO),
    F("allowed_operations", SET(&e_vtpm_operations), DRO),
    F("current_operations", MAP(STR, &e_vtpm_operations), DRO),
    F("VM", REF("VM"), SRO, .inverse = "VTPMs"),
    F("backend", REF("VM"), DRO),
    F("persistence_backend", &e_persistence_backend, DRO, .def = "xapi"),
    F("is_unique", BOOL, SRO),
    F("is_protected", BOOL, DRO),
};
static const struct ts_dm_message vtpm_messages[] = {
    M("create", "VTPM ref", "VM ref vM, bool is_unique", TS_ROLE_NONE),
    M("destroy", "void", "VTPM ref self", TS_ROLE_NONE),
};
const struct ts_dm_class ts_dm_class_VTPM = {
    .name = "VTPM",
    .fields = vtpm_fields,
    .nfields = ATOLL_ARRAY_SIZE(vtpm_fields),
    .messages = vtpm_messages,
    .nmessages = ATOLL_ARRAY_SIZE(vtpm_messages),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_VM_ADMIN,
    .create_role = TS_ROLE_VM_ADMIN,
};

/* ---- SM ---- */
static const struct ts_dm_field sm_fields[] = {
    F("uuid", STR, DRO),
    F("name_label", STR, DRO),
    F("name_description", STR, DRO),
    F("type", STR, DRO),
    F("vendor", STR, DRO),
    F("copyright", STR, DRO),
    F("version", STR, DRO),
    F("required_api_version", STR, DRO),
    F("configuration", MAP(STR, STR), DRO),
    F("capabilities", SET(STR), DRO, .flags = TS_DM_F_DEPRECATED),
    F("features", MAP(STR, INT), DRO),
    F("other_config", MAP(STR, STR), RW),
    F("driver_filename", STR, DRO),
    F("required_cluster_stack", SET(STR), DRO),
};
const struct ts_dm_class ts_dm_class_SM = {
    .name = "SM",
    .fields = sm_fields,
    .nfields = ATOLL_ARRAY_SIZE(sm_fields),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};

/* ---- PCI ---- */
static const struct ts_dm_field pci_fields[] = {
    F("uuid", STR, DRO),
    F("class_name", STR, SRO),
    F("vendor_name", STR, SRO),
    F("device_name", STR, SRO),
    F("host", REF("host"), SRO, .inverse = "PCIs"),
    F("pci_id", STR, SRO),
    F("dependencies", SET(REF("PCI")), DRO),
    F("other_config", MAP(STR, STR), RW),
    F("subsystem_vendor_name", STR, SRO),
    F("subsystem_device_name", STR, SRO),
    F("driver_name", STR, SRO),
};
const struct ts_dm_class ts_dm_class_PCI = {
    .name = "PCI",
    .fields = pci_fields,
    .nfields = ATOLL_ARRAY_SIZE(pci_fields),
    .flags = 0,
    .read_role = TS_ROLE_READ_ONLY,
    .write_role = TS_ROLE_POOL_OPERATOR,
    .create_role = TS_ROLE_POOL_OPERATOR,
};
