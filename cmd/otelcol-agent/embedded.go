package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-agent/otelcol-agent/config"
)

// embeddedScheme serves configurations compiled into the binary:
// "embedded:default" is config/default.yaml. It can be combined with other
// --config sources like any URI (--config embedded:default --config
// overlay.yaml).
const (
	embeddedScheme   = "embedded"
	defaultConfigURI = embeddedScheme + ":default"
)

type embeddedProvider struct{}

func newEmbeddedFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return embeddedProvider{} })
}

func (embeddedProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if uri != defaultConfigURI {
		return nil, fmt.Errorf("%q: the only embedded configuration is %q", uri, defaultConfigURI)
	}
	return confmap.NewRetrievedFromYAML(config.Default)
}

func (embeddedProvider) Scheme() string { return embeddedScheme }

func (embeddedProvider) Shutdown(context.Context) error { return nil }
