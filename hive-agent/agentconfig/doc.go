// Package agentconfig loads and checks the hive agent's config file,
// <install_path>/hive-agent.json, which the queen writes at install with
// mode 0600 (README: Using the queen). The file holds the hive token: nothing here puts
// the token in an error message.
//
// Where the agent reaches the queen: queen_url, one URL (http:// or
// https://, or under the ssh transport unix:// and the path of the queen's
// remote forward on the node), and, for an HA pair of queens under the
// http transport, queen_urls: every queen of the pair as agents reach it,
// each an http:// or https:// URL. The queen writes both at install (its
// own URL as queen_url and first of queen_urls, then the peers of
// `queen serve --peer-url`); an older config with queen_url alone stays
// valid. [QueenURLs] gives the list the agent beats to; it follows a
// standby's pointer to the active queen only to a URL of that list (README:
// High availability).
package agentconfig
