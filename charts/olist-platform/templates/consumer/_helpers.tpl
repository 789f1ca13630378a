{{/* Consumer helpers; call with (dict "root" $ "stream" "orders"). */}}

{{- define "olist-platform.consumer.name" -}}
{{- printf "%s-consumer-%s" (include "olist-platform.fullname" .root) .stream | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "olist-platform.consumer.selectorLabels" -}}
{{ include "olist-platform.selectorLabels" .root }}
app.kubernetes.io/component: consumer
olist.io/stream: {{ .stream }}
{{- end }}

{{- define "olist-platform.consumer.labels" -}}
{{ include "olist-platform.labels" .root }}
app.kubernetes.io/component: consumer
olist.io/stream: {{ .stream }}
{{- end }}
