/*
 * essmon's access control for the gateways' Mosquitto listener (docs/deployment.md).
 *
 * Mosquitto 2.0's ACL file checks a subscription only when a message is delivered, so it
 * grants the SUBACK for another gateway's topics and then filters. The protocol promises
 * a refusal (docs/gateway-protocol.md, section 4), and Mosquitto's dynamic-security plugin
 * cannot say "the user's own topics" (%u) before 2.1. So this plugin is the listener's
 * whole ACL: a gateway, whose user name is its gateway ID, may
 *   publish   essmon/v1/<its id>/telemetry, status, events, results
 *   receive   essmon/v1/<its id>/commands
 *   subscribe essmon/v1/<its id>/commands, exactly (no wildcards)
 * and nothing else; everything else is refused at once (SUBACK 0x87, PUBACK 0x87).
 *
 * Build: gcc -O2 -Wall -Werror -fPIC -shared essmon_gateway_acl.c -o essmon_gateway_acl.so
 * (Debian: mosquitto-dev and libmosquitto-dev). `make mosquitto-plugin` does this.
 */
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define PREFIX "essmon/v1/"

static mosquitto_plugin_id_t *plugin_id = NULL;

/* Whether `topic` is PREFIX + `user` + "/" + `kind`, letter for letter. */
static int is_own(const char *topic, const char *user, const char *kind)
{
	size_t prefix = strlen(PREFIX), name = strlen(user);

	if (strncmp(topic, PREFIX, prefix) != 0) return 0;
	topic += prefix;
	if (strncmp(topic, user, name) != 0 || topic[name] != '/') return 0;
	return strcmp(topic + name + 1, kind) == 0;
}

static int acl_check(int event, void *event_data, void *userdata)
{
	static const char *incoming[] = {"telemetry", "status", "events", "results"};
	struct mosquitto_evt_acl_check *ed = event_data;
	const char *user = mosquitto_client_username(ed->client);
	size_t i;

	(void)event;
	(void)userdata;
	/* a gateway ID never holds a topic separator or wildcard; a user name that does is
	   no gateway of ours */
	if (user == NULL || user[0] == '\0' || strpbrk(user, "/+#") != NULL) {
		return MOSQ_ERR_ACL_DENIED;
	}
	switch (ed->access) {
	case MOSQ_ACL_WRITE:
		for (i = 0; i < sizeof incoming / sizeof incoming[0]; i++) {
			if (is_own(ed->topic, user, incoming[i])) return MOSQ_ERR_SUCCESS;
		}
		return MOSQ_ERR_ACL_DENIED;
	case MOSQ_ACL_READ:
	case MOSQ_ACL_SUBSCRIBE:
		return is_own(ed->topic, user, "commands") ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
	case MOSQ_ACL_UNSUBSCRIBE:
		return MOSQ_ERR_SUCCESS;
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	(void)supported_version_count;
	(void)supported_versions;
	return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
			  struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data;
	(void)opts;
	(void)opt_count;
	plugin_id = identifier;
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, acl_check, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data;
	(void)opts;
	(void)opt_count;
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, acl_check, NULL);
}
