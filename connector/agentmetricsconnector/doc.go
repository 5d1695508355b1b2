// Package agentmetricsconnector derives the four layers of agent signals
// (standard, LLM-native, agent-native, business) from agent spans as
// metrics, aggregated per run, with exemplars, cardinality limits and
// tool-selection drift.
//
//go:generate ../../bin/mdatagen metadata.yaml
package agentmetricsconnector
