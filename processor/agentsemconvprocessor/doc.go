// Package agentsemconvprocessor makes every agent span speak one language:
// it classifies spans as run, llm, tool or other, writes the canonical
// agent.* attributes, prices token usage and redacts prompt content.
//
//go:generate ../../bin/mdatagen metadata.yaml
package agentsemconvprocessor
