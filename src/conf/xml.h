/*
 * xml.h: safe libxml2 reading and canonical XML writing, shared by the XML
 * formats in src/conf (domain_conf.c, snapshot_conf.c).
 *
 * libxml2's types stay opaque here (forward-declared structs) so that no
 * layer outside src/conf needs libxml2's headers. Only vms_xml_text_check()
 * and the size limits are meant for callers outside src/conf.
 */
#ifndef VMS_CONF_XML_H
#define VMS_CONF_XML_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

/* Refuse XML documents larger than this before parsing them. */
#define VMS_XML_MAX_BYTES (16u * 1024 * 1024)
/* Refuse any single text value (a <description>, a <cmdline>, text inside a
 * kept element) larger than this, whatever libxml2's own limits are. */
#define VMS_XML_MAX_TEXT_BYTES (1024u * 1024)

/* true if @text can be written into XML as it is: valid UTF-8 without the
 * control characters XML 1.0 forbids. Otherwise sets VMSNAP_ERR_INVALID_ARG
 * naming @what. (The formatters replace such characters with U+FFFD.) */
bool vms_xml_text_check(const char *what, const char *text, vmsnap_error **error);

struct _xmlDoc;
struct _xmlNode;

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Parse @xml safely: refuse more than VMS_XML_MAX_BYTES, any DOCTYPE or
 * entity declaration, network access; parser messages go into @error
 * (VMSNAP_ERR_XML, with the line), never to stderr. The root element must be
 * @root_name. Free the result with xmlFreeDoc(). */
struct _xmlDoc *vms_xml_read(const char *xml, const char *root_name, vmsnap_error **error);

/* The line @node starts on, also past line 65535. */
long vms_xml_line(struct _xmlNode *node);
/* The element's name as written, with its prefix (for messages). */
char *vms_xml_qname(struct _xmlNode *node);
/* true if @node is an element called @name in no namespace. */
bool vms_xml_is_element(const struct _xmlNode *node, const char *name);
/* The value of attribute @name in no namespace: NULL if absent, "" if empty. */
const char *vms_xml_attr(struct _xmlNode *node, const char *name);
/* A user's text for a message: cut after 60 characters, marked with "...". */
char *vms_xml_shown(const char *text);

/* Element-level checks. Each sets VMSNAP_ERR_UNSUPPORTED (or XML) with the
 * line number and returns false. @allowed is a NULL-terminated list;
 * @supported is the sentence naming what is supported. */
bool vms_xml_check_attrs(struct _xmlNode *node, const char *const *allowed, const char *supported,
                         vmsnap_error **error);
bool vms_xml_check_no_text(struct _xmlNode *node, vmsnap_error **error);
/* Like vms_xml_check_no_text(), and refuse child elements too (for
 * elements that carry only attributes). */
bool vms_xml_check_empty(struct _xmlNode *node, vmsnap_error **error);
void vms_xml_unsupported_element(struct _xmlNode *child, const char *supported,
                                 vmsnap_error **error);
/* For an element that may appear once: remember @child in *@slot, or refuse
 * it if *@slot already holds the first one. */
bool vms_xml_once(struct _xmlNode *child, struct _xmlNode **slot, vmsnap_error **error);
/* Refuse @path (found on @node, described as @what) unless it starts with '/'. */
bool vms_xml_require_absolute(struct _xmlNode *node, const char *what, const char *path,
                              vmsnap_error **error);

/* The text of a leaf element (an element child is an error); never NULL on success. */
char *vms_xml_leaf_text(struct _xmlNode *node, vmsnap_error **error);
/* The same for a leaf element that takes no attributes. */
char *vms_xml_plain_text(struct _xmlNode *node, vmsnap_error **error);
/* vms_xml_plain_text() without surrounding blanks (numbers, keywords, uuids). */
char *vms_xml_trimmed_text(struct _xmlNode *node, vmsnap_error **error);

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* Escaped text / single-quoted attribute value, appended to @out. */
void vms_xml_escape_text(GString *out, const char *text);
void vms_xml_escape_attr(GString *out, const char *text);

/* Two spaces per level. */
void vms_xml_indent(GString *out, unsigned int indent);
/* " name='value'", escaped; nothing if @value is NULL. */
void vms_xml_write_attr(GString *out, const char *name, const char *value);
/* "<name>text</name>" on its own line, @indent levels deep; nothing if @text is NULL. */
void vms_xml_write_text_element(GString *out, unsigned int indent, const char *name,
                                const char *text);
/* Append @xml (lines of canonical XML at level 0, e.g. from vms_xml_preserve)
 * @indent levels deeper. */
void vms_xml_append_reindented(GString *out, const char *xml, unsigned int indent);

/* Append the element and its subtree as canonical XML (indent levels deep,
 * attributes in document order, blank text between elements dropped). Mixed
 * text and elements are refused. */
bool vms_xml_preserve(GString *out, struct _xmlNode *node, unsigned int indent,
                      vmsnap_error **error);

#endif
