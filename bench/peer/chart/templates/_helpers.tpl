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

{{/* The service's own ports as policy peers reach them (after the Service's DNAT): [{port, protocol}]. */}}
{{- define "blessed.targetPorts" -}}
{{- $out := list -}}
{{- range $p := . -}}
{{- $out = append $out (dict "port" ($p.targetPort | default $p.port) "protocol" ($p.protocol | default "TCP")) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Cilium toPorts ports: call with (list $ports $platform); distinct, sorted by number then protocol, ports
     as strings, plus the HBONE port in ambient mode. */}}
{{- define "blessed.l4ports" -}}
{{- $p := index . 1 -}}
{{- $keys := list -}}
{{- range $port := index . 0 -}}
{{- $keys = append $keys (printf "%05d/%s" (int $port.port) ($port.protocol | default "TCP")) -}}
{{- end -}}
{{- if eq $p.mesh.mode "ambient" -}}
{{- $keys = append $keys (printf "%05d/TCP" (int $p.mesh.hbonePort)) -}}
{{- end -}}
{{- range $k := $keys | uniq | sortAlpha }}
- port: {{ atoi (first (splitList "/" $k)) | toString | quote }}
  protocol: {{ last (splitList "/" $k) }}
{{- end -}}
{{- end -}}

{{/* Istio operation ports: distinct port numbers as strings, sorted numerically. */}}
{{- define "blessed.l7ports" -}}
{{- $keys := list -}}
{{- range $port := . -}}{{- $keys = append $keys (printf "%05d" (int $port.port)) -}}{{- end -}}
{{- range $k := $keys | uniq | sortAlpha }}
- {{ atoi $k | toString | quote }}
{{- end -}}
{{- end -}}

{{/* Who may call the service, in order: the agreed callers (from values: helm cannot see them), then the
     metrics scraper on the scraped port. Call with (list $s $platform); returns JSON
     [{namespace, podLabels, principal, ports}]. */}}
{{- define "blessed.ingressPeers" -}}
{{- $s := index . 0 -}}{{- $p := index . 1 -}}
{{- $own := include "blessed.targetPorts" ($s.ports | default list) | fromJsonArray -}}
{{- $peers := list -}}
{{- if $own -}}
{{- range $c := ($s.policy | default dict).callers -}}
{{- $peers = append $peers (dict "namespace" $c.namespace "podLabels" $c.podLabels "principal" $c.principal "ports" $own) -}}
{{- end -}}
{{- end -}}
{{- range $port := $s.ports | default list -}}
{{- if eq $port.name ($s.metrics.port | default "metrics") -}}
{{- $m := $p.metrics -}}
{{- $peers = append $peers (dict "namespace" $m.namespace "podLabels" $m.podLabels
      "principal" (printf "%s/ns/%s/sa/%s" $p.mesh.trustDomain $m.namespace $m.serviceAccount)
      "ports" (list (dict "port" ($port.targetPort | default $port.port) "protocol" ($port.protocol | default "TCP")))) -}}
{{- end -}}
{{- end -}}
{{- toJson $peers -}}
{{- end -}}

{{/* The ports the kubelet probes (httpGet/tcpSocket ports, named ones through the first container's ports,
     and the default readiness port): what an ambient pod admits from istio-cni's probe address. Returns
     Cilium toPorts ports as YAML, or nothing. */}}
{{- define "blessed.probePorts" -}}
{{- $s := . -}}
{{- $named := dict -}}
{{- range $p := $s.ports | default list -}}{{- $_ := set $named $p.name ($p.targetPort | default $p.port) -}}{{- end -}}
{{- $keys := list -}}
{{- range $i, $c := $s.containers -}}
{{- range $probe := list $c.livenessProbe $c.readinessProbe -}}
{{- if $probe -}}
{{- $handler := $probe.httpGet | default $probe.tcpSocket -}}
{{- if $handler -}}
{{- if kindIs "string" $handler.port -}}
{{- if and (eq $i 0) (hasKey $named $handler.port) -}}{{- $keys = append $keys (printf "%05d" (int (get $named $handler.port))) -}}{{- end -}}
{{- else -}}
{{- $keys = append $keys (printf "%05d" (int $handler.port)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq $i 0) (not $c.readinessProbe) $s.ports -}}
{{- $first := first $s.ports -}}{{- $keys = append $keys (printf "%05d" (int ($first.targetPort | default $first.port))) -}}
{{- end -}}
{{- end -}}
{{- range $k := $keys | uniq | sortAlpha }}
- port: {{ atoi $k | toString | quote }}
  protocol: TCP
{{- end -}}
{{- end -}}

{{/* Pod labels and annotations that enroll the pods in the mesh; call with the platform values. */}}
{{- define "blessed.meshLabels" -}}
{{- if eq .mesh.mode "ambient" -}}
istio.io/dataplane-mode: ambient
{{- else -}}
sidecar.istio.io/inject: "true"
{{- end -}}
{{- end -}}
