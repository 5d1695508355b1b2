// Package config holds the distribution's ready configurations. The default
// one is embedded in the binary: otelcol-agent with no --config runs it.
package config

import _ "embed"

// Default is config/default.yaml, the standalone default configuration.
//
//go:embed default.yaml
var Default []byte
