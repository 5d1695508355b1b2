package agentsemconvprocessor

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
)

var metricdatatestIgnore = []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}

func attrSet(k, v string) attribute.Set { return attribute.NewSet(attribute.String(k, v)) }
