{{- define "olist-platform.rbac.launcherRoleName" -}}
{{- printf "%s-airflow-launcher" (include "olist-platform.fullname" .) }}
{{- end }}
