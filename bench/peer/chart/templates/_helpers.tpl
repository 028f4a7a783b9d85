{{/* Every template ranges over `.Values.services`, or over the root values as the only service. */}}

{{- define "blessed.labels" -}}
{{- $ours := dict "app.kubernetes.io/name" .name "app.kubernetes.io/managed-by" "lattice" -}}
{{- toYaml (merge $ours (.labels | default dict)) -}}
{{- end -}}

{{/* metadata for an object named after the service; call with (list $svc $root $name). */}}
{{- define "blessed.metadata" -}}
{{- $s := index . 0 -}}{{- $root := index . 1 -}}
metadata:
  name: {{ index . 2 }}
  namespace: {{ $s.namespace | default $root.Release.Namespace }}
  labels:
    {{- include "blessed.labels" $s | nindent 4 }}
{{- end -}}

{{/* What the pods read, hashed so that a config change rolls them. */}}
{{- define "blessed.configHash" -}}
{{- $data := list -}}
{{- range $c := .containers -}}
{{- $data = append $data (dict "env" ($c.env | default dict) "files" ($c.files | default list)) -}}
{{- end -}}
{{- toJson $data | sha256sum | trunc 16 -}}
{{- end -}}
