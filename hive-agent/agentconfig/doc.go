// Package agentconfig loads and checks the hive agent's config file,
// <install_path>/hive-agent.json, which the queen writes at install with
// mode 0600 (README: Using the queen). The file holds the hive token: nothing here puts
// the token in an error message.
package agentconfig
