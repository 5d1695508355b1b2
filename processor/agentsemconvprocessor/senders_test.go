package agentsemconvprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-agent/otelcol-agent/internal/agentspan"
	"github.com/otelcol-agent/otelcol-agent/internal/agenttest"
	"github.com/otelcol-agent/otelcol-agent/internal/contentredact"
)

// Every sender fixture through the processor under the default config
// (content dropped): what a downstream reader (the connector, another
// collector) extracts from the processed span is what the original span
// said — kind, agent, model, tool, status, error and every token count —
// although the content that carried some of it (a Genkit model's usage
// inside genkit:output) is gone; and no content is left.
func TestSendersKeepTheirFactsThroughRedaction(t *testing.T) {
	redactor := contentredact.New(contentredact.Settings{Mode: contentredact.ModeDrop})
	for _, name := range agenttest.SenderFiles(t) {
		t.Run(name, func(t *testing.T) {
			tds, truth := agenttest.LoadSender(t, name)
			var tokens, outTokens int64
			for _, td := range tds {
				before := ptrace.NewTraces()
				td.CopyTo(before)
				out, _ := run(t, defaultCfg(), td)
				orig, got := allSpans(before), allSpans(out)
				for i := range orig {
					var want, have agentspan.Info
					agentspan.DefaultExtractor.Extract(orig[i], &want)
					agentspan.DefaultExtractor.Extract(got[i], &have)
					s := orig[i].Name()
					assert.Equal(t, want.Kind, have.Kind, "%s: kind", s)
					assert.Equal(t, want.Workflow, have.Workflow, "%s: workflow", s)
					assert.Equal(t, want.AgentID, have.AgentID, "%s: agent", s)
					assert.Equal(t, want.Model, have.Model, "%s: model", s)
					assert.Equal(t, want.ToolName, have.ToolName, "%s: tool", s)
					assert.Equal(t, want.ToolStatus, have.ToolStatus, "%s: tool status", s)
					assert.Equal(t, want.IsError, have.IsError, "%s: error", s)
					assert.Equal(t, want.Tokens.Input, have.Tokens.Input, "%s: input", s)
					assert.Equal(t, want.Tokens.Output, have.Tokens.Output, "%s: output", s)
					assert.Equal(t, want.Tokens.CacheRead, have.Tokens.CacheRead, "%s: cache read", s)
					assert.Equal(t, want.Tokens.CacheWrite, have.Tokens.CacheWrite, "%s: cache write", s)
					if want.Kind == agentspan.KindLLM {
						tokens += want.Tokens.Input
						outTokens += want.Tokens.Output
					}
					for key := range got[i].Attributes().All() {
						assert.False(t, redactor.IsContent(key), "content attribute %s left on span %q", key, s)
					}
				}
			}
			var wantIn, wantOut int64
			for _, dirs := range truth.Tokens {
				wantIn += dirs["input"] + dirs["cache_read"] + dirs["cache_write"]
				wantOut += dirs["output"]
			}
			assert.Equal(t, wantIn, tokens, "input tokens of LLM spans (all, cache included)")
			assert.Equal(t, wantOut, outTokens, "output tokens of LLM spans")
		})
	}
}
