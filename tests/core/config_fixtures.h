/*
 * config_fixtures.h — the three example configuration files, as strings
 * (tests/core/config_fixtures.c).
 */
#ifndef HDB_CONFIG_FIXTURES_H
#define HDB_CONFIG_FIXTURES_H

extern const char FIXTURE_CONTAINER[];    /* heliosdb-container.toml */
extern const char FIXTURE_MICROSERVICE[]; /* heliosdb-microservice.toml */
extern const char FIXTURE_EDGE[];         /* edge-node.toml */

#endif
