{{/* Names and labels. */}}
{{- define "deskpilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deskpilot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "deskpilot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "deskpilot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: deskpilot
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "web") */}}
{{- define "deskpilot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deskpilot.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "deskpilot.componentLabels" -}}
{{ include "deskpilot.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "deskpilot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "deskpilot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "deskpilot.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "deskpilot.chromaHost" -}}
{{- if .Values.chroma.enabled -}}
{{- printf "%s-chroma" (include "deskpilot.fullname" .) -}}
{{- else -}}
{{- required "chroma.external.host is required when chroma.enabled is false" .Values.chroma.external.host -}}
{{- end -}}
{{- end -}}

{{- define "deskpilot.publicUrl" -}}
{{- if .Values.deskpilot.publicUrl -}}
{{- .Values.deskpilot.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "https://%s" (first .Values.ingress.hosts).host -}}
{{- end -}}
{{- end -}}

{{/* Non-secret settings (the ConfigMap's data; also inlined into the migration hook Job). */}}
{{- define "deskpilot.configData" -}}
DESKPILOT_ENVIRONMENT: {{ .Values.deskpilot.environment | quote }}
DESKPILOT_LOG_LEVEL: {{ .Values.deskpilot.logLevel | quote }}
DESKPILOT_LOG_JSON: "true"
DESKPILOT_DATA_DIR: "/app/var"
DESKPILOT_CELERY__ALWAYS_EAGER: "false"
DESKPILOT_WEB__HOST: "0.0.0.0"
DESKPILOT_WEB__PORT: "8000"
{{- with (include "deskpilot.publicUrl" .) }}
DESKPILOT_WEB__PUBLIC_URL: {{ . | quote }}
{{- end }}
DESKPILOT_CHROMA__HOST: {{ include "deskpilot.chromaHost" . | quote }}
DESKPILOT_CHROMA__PORT: {{ ternary 8000 .Values.chroma.external.port .Values.chroma.enabled | quote }}
DESKPILOT_CHROMA__SSL: {{ ternary false .Values.chroma.external.ssl .Values.chroma.enabled | quote }}
{{- if .Values.sharedStorage.enabled }}
DESKPILOT_ROUTER__MODEL_DIR: "/app/shared/models"
DESKPILOT_KNOWLEDGE__BM25_PATH: "/app/shared/bm25"
{{- end }}
{{- range $key, $value := .Values.deskpilot.env }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Secret data the chart itself manages (secrets.create). */}}
{{- define "deskpilot.secretData" -}}
{{- if .Values.postgresql.url }}
DESKPILOT_DATABASE__URL: {{ .Values.postgresql.url | b64enc | quote }}
{{- end }}
{{- if .Values.redis.url }}
DESKPILOT_REDIS__URL: {{ .Values.redis.url | b64enc | quote }}
{{- end }}
{{- range $key, $value := .Values.secrets.env }}
{{ $key }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* env: entries for the database and Redis URLs held in existing Secrets. */}}
{{- define "deskpilot.secretEnv" -}}
{{- if and (not .Values.postgresql.url) .Values.postgresql.existingSecret.name }}
- name: DESKPILOT_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.existingSecret.name }}
      key: {{ .Values.postgresql.existingSecret.key }}
{{- end }}
{{- if and (not .Values.redis.url) .Values.redis.existingSecret.name }}
- name: DESKPILOT_REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret.name }}
      key: {{ .Values.redis.existingSecret.key }}
{{- end }}
{{- end -}}

{{/* env: and ports: of a process that serves Prometheus metrics on its own port (worker, beat, bot);
   "multiproc" adds prometheus_client's multi-process directory for the prefork worker. */}}
{{- define "deskpilot.metricsEnv" -}}
{{- if .ctx.Values.serviceMonitor.enabled }}
- name: DESKPILOT_METRICS__PORT
  value: {{ .ctx.Values.serviceMonitor.metricsPort | quote }}
{{- if .multiproc }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /app/prometheus
{{- end }}
{{- end }}
{{- end -}}

{{- define "deskpilot.metricsPort" -}}
{{- if .Values.serviceMonitor.enabled }}
ports:
  - name: metrics
    containerPort: {{ .Values.serviceMonitor.metricsPort }}
    protocol: TCP
{{- end }}
{{- end -}}

{{/* envFrom: the ConfigMap (unless "inline" is set: the hook Job runs before it exists) and the Secrets. */}}
{{- define "deskpilot.envFrom" -}}
{{- if not .inline }}
- configMapRef:
    name: {{ include "deskpilot.fullname" .ctx }}
{{- end }}
{{- if .ctx.Values.secrets.create }}
- secretRef:
    name: {{ include "deskpilot.fullname" .ctx }}
{{- end }}
{{- if .ctx.Values.secrets.existingSecret }}
- secretRef:
    name: {{ .ctx.Values.secrets.existingSecret }}
{{- end }}
{{- end -}}

{{/* Pod annotations: a rollout whenever the config or the chart's Secret changes. */}}
{{- define "deskpilot.podAnnotations" -}}
checksum/config: {{ include "deskpilot.configData" . | sha256sum }}
checksum/secret: {{ include "deskpilot.secretData" . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes every Deskpilot pod mounts: writable /app/var and /tmp on a read-only root FS. */}}
{{- define "deskpilot.volumes" -}}
- name: var
  emptyDir: {}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 256Mi
{{- if .Values.sharedStorage.enabled }}
- name: shared
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-shared" (include "deskpilot.fullname" .)) .Values.sharedStorage.existingClaim }}
{{- end }}
{{- end -}}

{{- define "deskpilot.volumeMounts" -}}
- name: var
  mountPath: /app/var
- name: tmp
  mountPath: /tmp
{{- if .Values.sharedStorage.enabled }}
- name: shared
  mountPath: /app/shared
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by every Deskpilot pod. */}}
{{- define "deskpilot.podCommon" -}}
serviceAccountName: {{ include "deskpilot.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* An exec probe running `deskpilot probe ...` (workers, beat, Socket Mode bot). */}}
{{- define "deskpilot.execProbe" -}}
exec:
  command: {{ toJson .command }}
periodSeconds: {{ .period | default 30 }}
timeoutSeconds: 15
failureThreshold: {{ .failures | default 3 }}
{{- end -}}

{{/* Fail early on values that would deploy something broken. */}}
{{- define "deskpilot.validate" -}}
{{- if and (not .Values.postgresql.url) (not .Values.postgresql.existingSecret.name) (not .Values.secrets.existingSecret) -}}
{{- fail "set postgresql.existingSecret.name or postgresql.url (or DESKPILOT_DATABASE__URL in secrets.existingSecret)" -}}
{{- end -}}
{{- if and (not .Values.redis.url) (not .Values.redis.existingSecret.name) (not .Values.secrets.existingSecret) -}}
{{- fail "set redis.existingSecret.name or redis.url (or DESKPILOT_REDIS__URL in secrets.existingSecret)" -}}
{{- end -}}
{{- if and (or .Values.postgresql.url .Values.redis.url (gt (len .Values.secrets.env) 0)) (not .Values.secrets.create) -}}
{{- fail "postgresql.url, redis.url and secrets.env are written into a chart-managed Secret: set secrets.create=true" -}}
{{- end -}}
{{- if and .Values.chroma.enabled (not .Values.networkPolicy.enabled) (not .Values.chroma.allowWithoutNetworkPolicy) -}}
{{- fail "the in-cluster Chroma server has no authentication: keep networkPolicy.enabled=true, or set chroma.allowWithoutNetworkPolicy=true if the cluster restricts access to it otherwise" -}}
{{- end -}}
{{- if and (not .Values.secrets.create) (not .Values.secrets.existingSecret) -}}
{{- fail "set secrets.existingSecret (DESKPILOT_WEB__SECRET_KEY and other DESKPILOT_* secrets) or secrets.create=true" -}}
{{- end -}}
{{- end -}}
