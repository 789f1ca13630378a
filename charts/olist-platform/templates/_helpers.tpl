{{/* Chart-wide helpers: names, labels, image, security contexts, environment. */}}

{{- define "olist-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "olist-platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "olist" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "olist-%s" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "olist-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of the whole release; components add app.kubernetes.io/component. */}}
{{- define "olist-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "olist-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "olist-platform.labels" -}}
helm.sh/chart: {{ include "olist-platform.chart" . }}
{{ include "olist-platform.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: olist-platform
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pipeline image, refusing mutable tags (kind load + :latest = ErrImagePull). */}}
{{- define "olist-platform.image" -}}
{{- $tag := toString .Values.image.tag }}
{{- if or (eq $tag "") (eq $tag "latest") }}
{{- fail "image.tag must be an immutable tag (make deploy uses the git sha); empty and `latest` are refused" }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{- define "olist-platform.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "olist-platform.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Name of the generated login Secret of one role: (dict "root" $ "role" "stream"). */}}
{{- define "olist-platform.dbSecretName" -}}
{{- printf "%s-db-%s" (include "olist-platform.fullname" .root) .role }}
{{- end }}

{{/* Name of the non-secret settings ConfigMap (same name in every namespace). */}}
{{- define "olist-platform.envConfigMapName" -}}
olist-env
{{- end }}

{{/* Non-secret settings every pipeline process needs under OLIST_ENV=kind. */}}
{{- define "olist-platform.settings" -}}
OLIST_ENV: {{ .Values.environment | quote }}
OLIST_PG_HOST: {{ .Values.database.host | quote }}
OLIST_PG_PORT: {{ .Values.database.port | quote }}
OLIST_PG_DATABASE: {{ .Values.database.name | quote }}
OLIST_KAFKA_BOOTSTRAP: {{ .Values.kafka.bootstrap | quote }}
OLIST_KAFKA_NAMESPACE: {{ .Values.kafkaNamespacePrefix | quote }}
OLIST_PUSHGATEWAY_URL: {{ .Values.monitoring.pushgatewayUrl | quote }}
OLIST_LOG_LEVEL: {{ .Values.logLevel | quote }}
OLIST_LOG_FORMAT: "json"
OLIST_STATE_DIR: "/tmp/olist"
PYTHONDONTWRITEBYTECODE: "1"
{{- end }}

{{/* envFrom of a pipeline container: the settings plus the given roles' login Secrets. */}}
{{- define "olist-platform.envFrom" -}}
- configMapRef:
    name: {{ include "olist-platform.envConfigMapName" .root }}
{{- range .roles }}
- secretRef:
    name: {{ include "olist-platform.dbSecretName" (dict "root" $.root "role" .) }}
{{- end }}
{{- end }}

{{/* Writable scratch space for a read-only root filesystem. */}}
{{- define "olist-platform.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end }}

{{- define "olist-platform.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Service account of our long-running workloads (no API access, no token). */}}
{{- define "olist-platform.workloadServiceAccountName" -}}
{{- printf "%s-workload" (include "olist-platform.fullname" .) }}
{{- end }}
