{{/* Egress every pipeline pod needs: DNS and the warehouse PostgreSQL. */}}
{{- define "olist-platform.networkPolicy.egress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.databaseNamespace }}
      podSelector:
        matchExpressions:
          - {key: cnpg.io/cluster, operator: Exists}
  ports:
    - {protocol: TCP, port: {{ .Values.database.port }}}
{{- end }}
