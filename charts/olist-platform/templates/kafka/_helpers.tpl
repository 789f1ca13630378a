{{/*
Topics from files/topics.yaml (a link to src/olist_pipeline/stream/topics.yaml, the
stream topic declaration), normalised to a YAML list of {name, partitions, replicas,
config}; every entry's dead-letter topic (`dlq`, a name or a mapping) is a topic too.
Accepted shapes: `topics:` (list) or `streams:` (list, or mapping keyed by stream);
an entry names its topic with `name` or `topic`, and its settings with `config` or
`configs`.
*/}}
{{- define "olist-platform.kafka.topics" -}}
{{- $decl := .Files.Get "files/topics.yaml" | fromYaml }}
{{- $entries := list }}
{{- if kindIs "slice" $decl.topics }}
{{- $entries = $decl.topics }}
{{- else if kindIs "slice" $decl.streams }}
{{- $entries = $decl.streams }}
{{- else if kindIs "map" $decl.streams }}
{{- range $stream, $spec := $decl.streams }}
{{- $entries = append $entries (merge (dict "stream" $stream) $spec) }}
{{- end }}
{{- end }}
{{- $out := list }}
{{- range $entries }}
{{- $main := . }}
{{- if kindIs "map" .topic }}{{ $main = merge (dict "dlq" .dlq) .topic }}{{ end }}
{{- $name := default $main.topic $main.name }}
{{- $replicas := default 1 $main.replicas }}
{{- $out = append $out (dict "name" $name "partitions" (default 1 $main.partitions) "replicas" $replicas "config" (default (default dict $main.configs) $main.config)) }}
{{- with $main.dlq }}
{{- if kindIs "string" . }}
{{- $out = append $out (dict "name" . "partitions" 1 "replicas" $replicas "config" dict) }}
{{- else if kindIs "map" . }}
{{- $out = append $out (dict "name" (default .topic .name) "partitions" (default 1 .partitions) "replicas" (default $replicas .replicas) "config" (default (default dict .configs) .config)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}
