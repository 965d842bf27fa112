/* domain.c: the public domain calls. */
#include "api/handles.h"

#include "core/domain_ops.h"
#include "util/error.h"

vmsnap_domain *vms_api_domain_new(vmsnap_conn *conn, vms_domain_def *def)
{
    vmsnap_domain *dom = g_new0(vmsnap_domain, 1);
    g_atomic_ref_count_init(&dom->ref);
    dom->conn = vmsnap_conn_ref(conn);
    dom->def = def;
    vms_uuid_format(def->uuid, dom->uuid);
    return dom;
}

vmsnap_domain *vmsnap_domain_define_xml(vmsnap_conn *conn, const char *xml, unsigned int flags,
                                        vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, conn, "conn", error) ||
        !vms_api_check_arg(__func__, xml, "xml", error) ||
        !vms_api_check_flags(__func__, flags, VMSNAP_DOMAIN_DEFINE_NO_OVERWRITE, error))
        return NULL;
    vms_domain_def *def =
        vms_domain_define(conn->store, xml, flags & VMSNAP_DOMAIN_DEFINE_NO_OVERWRITE, error);
    return def ? vms_api_domain_new(conn, def) : NULL;
}

vmsnap_domain *vmsnap_domain_lookup_by_name(vmsnap_conn *conn, const char *name,
                                            vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, conn, "conn", error) ||
        !vms_api_check_arg(__func__, name, "name", error))
        return NULL;
    vms_domain_def *def = vms_domain_get(conn->store, name, error);
    return def ? vms_api_domain_new(conn, def) : NULL;
}

int vmsnap_conn_list_all_domains(vmsnap_conn *conn, vmsnap_domain ***domains, unsigned int flags,
                                 vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, conn, "conn", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    g_auto(GStrv) names = vms_domain_list_names(conn->store, error);
    if (!names)
        return -1;
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)vmsnap_domain_free);
    for (char **n = names; *n; n++) {
        vmsnap_error *lerr = NULL;
        vms_domain_def *def = vms_domain_get(conn->store, *n, &lerr);
        if (!def && vmsnap_error_get_code(lerr) == VMSNAP_ERR_NO_DOMAIN) {
            vmsnap_error_free(lerr); /* undefined since we listed it */
            continue;
        }
        if (!def) {
            vms_error_propagate(error, lerr);
            return -1;
        }
        g_ptr_array_add(list, vms_api_domain_new(conn, def));
    }
    int count = (int)list->len;
    if (domains) {
        g_ptr_array_add(list, NULL);
        g_ptr_array_set_free_func(list, NULL);
        *domains = (vmsnap_domain **)g_ptr_array_free(g_steal_pointer(&list), FALSE);
    }
    return count;
}

int vmsnap_domain_undefine(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, VMSNAP_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA, error))
        return -1;
    bool with_snapshots = flags & VMSNAP_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    return vms_domain_undefine(dom->conn->store, dom->def->name, with_snapshots, error) ? 0 : -1;
}

char *vmsnap_domain_get_xml_desc(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    g_autoptr(vms_domain_def) def = vms_domain_get(dom->conn->store, dom->def->name, error);
    if (!def)
        return NULL;
    return vms_domain_def_format(def, 0);
}

const char *vmsnap_domain_get_name(const vmsnap_domain *dom)
{
    return dom ? dom->def->name : NULL;
}

const char *vmsnap_domain_get_uuid_string(const vmsnap_domain *dom)
{
    return dom ? dom->uuid : NULL;
}

unsigned long long vmsnap_domain_get_memory_kib(const vmsnap_domain *dom)
{
    return dom ? dom->def->memory_kib : 0;
}

unsigned int vmsnap_domain_get_vcpus(const vmsnap_domain *dom)
{
    return dom ? dom->def->vcpus : 0;
}

vmsnap_conn *vmsnap_domain_get_conn(const vmsnap_domain *dom)
{
    return dom ? dom->conn : NULL;
}

vmsnap_domain *vmsnap_domain_ref(vmsnap_domain *dom)
{
    if (dom)
        g_atomic_ref_count_inc(&dom->ref);
    return dom;
}

void vmsnap_domain_free(vmsnap_domain *dom)
{
    if (!dom || !g_atomic_ref_count_dec(&dom->ref))
        return;
    vms_domain_def_free(dom->def);
    vmsnap_conn_free(dom->conn);
    g_free(dom);
}

void vmsnap_domain_list_free(vmsnap_domain **domains)
{
    if (!domains)
        return;
    for (vmsnap_domain **d = domains; *d; d++)
        vmsnap_domain_free(*d);
    g_free(domains);
}
