/* Setting overrides on a libconfig tree ("key=value" from the command line
 * or a run configuration), shared by the model loader (dsl/dsl.c) and the
 * run configuration (engine/train/run_config.c). Internal. */
#ifndef VKFLOW_SETTINGS_H
#define VKFLOW_SETTINGS_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

/* Sets the value at dotted path key below root: group members by name, list
 * elements by their `name` member (programs.d_step.optimizer.lr). A missing
 * last member is added to its group. value is an integer, a number, true or
 * false, or a string (quoted or bare); a float setting given an integer
 * stays a float, otherwise the value's type replaces the old one. Returns
 * the setting, or NULL with *why set. */
config_setting_t *vf_config_set(config_setting_t *root, const char *key, const char *value, const char **why);

/* Splits "key=value" (spaces around '=' allowed) into key and value buffers.
 * False when there is no '=' or the key is empty or too long. */
bool vf_setting_split(const char *assignment, char *key, size_t key_len, char *value, size_t value_len);

/* The value of scalar setting s as override text (strings quoted), for
 * flattening a run configuration's model groups into settings. */
void vf_config_value_text(const config_setting_t *s, char *buf, size_t len);

#endif
