{{/* Names, labels and shared fragments of the operator-argo chart. */}}

{{- define "operator-argo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "operator-argo.fullname" -}}
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

{{- define "operator-argo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "operator-argo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "operator-argo.serverSelectorLabels" -}}
{{ include "operator-argo.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "operator-argo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "operator-argo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "operator-argo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "operator-argo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image every container of the release runs, also used for the job steps. */}}
{{- define "operator-argo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Environment namespaces, unique and sorted, as a JSON list. */}}
{{/* The namespace an environment runs jobs in (argument: dict root, env): its own, else
operator.defaultNamespace, else the release's. */}}
{{- define "operator-argo.envNamespace" -}}
{{- default (default .root.Release.Namespace .root.Values.operator.defaultNamespace) .env.namespace -}}
{{- end -}}

{{- define "operator-argo.envNamespaces" -}}
{{- $seen := dict -}}
{{- range .Values.environments -}}
{{- $_ := set $seen (include "operator-argo.envNamespace" (dict "root" $ "env" .)) true -}}
{{- end -}}
{{- keys $seen | sortAlpha | toJson -}}
{{- end -}}

{{/* Namespaces that need copies of job-pod Secrets: the release's and every environment's. */}}
{{- define "operator-argo.secretNamespaces" -}}
{{- $seen := dict .Release.Namespace true -}}
{{- range .Values.environments -}}
{{- $_ := set $seen (include "operator-argo.envNamespace" (dict "root" $ "env" .)) true -}}
{{- end -}}
{{- keys $seen | sortAlpha | toJson -}}
{{- end -}}

{{/* Name of the Secret holding one environment's key (argument: dict root, env). */}}
{{- define "operator-argo.envKeySecret" -}}
{{- if .env.key.existingSecret -}}
{{- .env.key.existingSecret -}}
{{- else -}}
{{- printf "%s-key-%s" (include "operator-argo.fullname" .root) .env.id | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "operator-argo.hasEnvKey" -}}
{{- if and .key (or .key.existingSecret .key.privateKey) -}}true{{- end -}}
{{- end -}}

{{- define "operator-argo.postgresHost" -}}
{{- if .Values.bundledPostgresql.enabled -}}
{{- printf "%s-postgresql" (include "operator-argo.fullname" .) -}}
{{- else -}}
{{- .Values.postgresql.host -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the database password; empty when there is none. */}}
{{- define "operator-argo.postgresSecret" -}}
{{- if .Values.bundledPostgresql.enabled -}}
{{- printf "%s-postgresql" (include "operator-argo.fullname" .) -}}
{{- else if .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecret -}}
{{- else if .Values.postgresql.password -}}
{{- printf "%s-database" (include "operator-argo.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "operator-argo.postgresSecretKey" -}}
{{- if .Values.bundledPostgresql.enabled -}}password{{- else -}}{{ .Values.postgresql.passwordKey }}{{- end -}}
{{- end -}}

{{- define "operator-argo.authSecret" -}}
{{- default (printf "%s-auth" (include "operator-argo.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The Secret with result-storage credentials for the chosen backend; empty when none. */}}
{{- define "operator-argo.storageSecret" -}}
{{- $s := .Values.storage -}}
{{- if eq $s.backend "s3" -}}
{{- if $s.s3.existingSecret -}}{{ $s.s3.existingSecret }}{{- else if or $s.s3.accessKey $s.s3.secretKey -}}{{ include "operator-argo.fullname" . }}-storage{{- end -}}
{{- else if eq $s.backend "ipfs" -}}
{{- if $s.ipfs.existingSecret -}}{{ $s.ipfs.existingSecret }}{{- else if or $s.ipfs.apiKey $s.ipfs.clientId -}}{{ include "operator-argo.fullname" . }}-storage{{- end -}}
{{- end -}}
{{- end -}}

{{- define "operator-argo.resultsClaim" -}}
{{- if .Values.storage.local.existingClaim -}}
{{- .Values.storage.local.existingClaim -}}
{{- else if .Values.storage.local.persistence.enabled -}}
{{- printf "%s-results" (include "operator-argo.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context shared by every pod of the release. */}}
{{- define "operator-argo.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context shared by every container of the release. */}}
{{- define "operator-argo.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Database connection env vars (argument: dict root, secret: an optional Secret name that
holds the password instead of the release's own). */}}
{{- define "operator-argo.databaseEnv" -}}
{{- $root := .root -}}
{{- $v := $root.Values.postgresql -}}
- name: POSTGRES_HOST
  value: {{ include "operator-argo.postgresHost" $root | quote }}
- name: POSTGRES_PORT
  value: {{ $v.port | int | quote }}
- name: POSTGRES_DB
  value: {{ $v.database | quote }}
- name: POSTGRES_USER
  value: {{ $v.user | quote }}
{{- $secret := default (include "operator-argo.postgresSecret" $root) .secret }}
{{- if $secret }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "operator-argo.postgresSecretKey" $root }}
{{- end }}
- name: OPERATOR_POOL_MIN
  value: {{ $v.poolMinSize | int | quote }}
- name: OPERATOR_POOL_MAX
  value: {{ $v.poolMaxSize | int | quote }}
- name: OPERATOR_DB_TIMEOUT
  value: {{ $v.timeout | toString | quote }}
{{- end -}}

{{- define "operator-argo.loggingEnv" -}}
- name: LOG_LEVEL
  value: {{ .Values.logging.level | quote }}
- name: LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
{{- if .Values.logging.config }}
- name: LOG_CFG
  value: /etc/operator-argo/logging/logging.yaml
{{- end }}
{{- end -}}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "operator-argo.validate" -}}
{{- if and .Values.auth.signatureRequired (not .Values.auth.existingSecret) (not .Values.auth.allowedProviders) -}}
{{- fail "auth.signatureRequired needs auth.allowedProviders or auth.existingSecret" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.postgresql.host) (not .Values.bundledPostgresql.enabled) -}}
{{- fail "replicaCount > 1 needs a shared database: set postgresql.host or bundledPostgresql.enabled" -}}
{{- end -}}
{{- if and .Values.postgresql.host .Values.bundledPostgresql.enabled -}}
{{- fail "set either postgresql.host or bundledPostgresql.enabled, not both" -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "s3") (not .Values.storage.s3.bucket) -}}
{{- fail "storage.s3.bucket is required when storage.backend is s3" -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "ipfs") (not .Values.storage.ipfs.url) -}}
{{- fail "storage.ipfs.url is required when storage.backend is ipfs" -}}
{{- end -}}
{{- $local := .Values.storage.local -}}
{{- if and (gt (int .Values.replicaCount) 1) (eq .Values.storage.backend "local") (not $local.existingClaim) $local.persistence.enabled (not (has "ReadWriteMany" $local.persistence.accessModes)) -}}
{{- fail "replicaCount > 1 with local result storage needs storage.local.persistence.accessModes [ReadWriteMany] (or s3/ipfs)" -}}
{{- end -}}
{{- $o := .Values.operator -}}
{{- if and (gt (int $o.keepFailed) 0) (lt (int $o.keepFailed) (int $o.keepFinished)) -}}
{{- fail "operator.keepFailed must be 0 or at least operator.keepFinished" -}}
{{- end -}}
{{- $ids := dict -}}
{{- range .Values.environments -}}
{{- if hasKey $ids .id -}}{{- fail (printf "environment id %q appears twice" .id) -}}{{- end -}}
{{- $_ := set $ids .id true -}}
{{- $start := ternary .notifyStartUrl $.Values.notify.startUrl (hasKey . "notifyStartUrl") -}}
{{- $stop := ternary .notifyStopUrl $.Values.notify.stopUrl (hasKey . "notifyStopUrl") -}}
{{- if and (or $start $stop) (not (include "operator-argo.hasEnvKey" .)) -}}
{{- fail (printf "environment %q sends notices, which its key signs: set its key" .id) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "local") (include "operator-argo.resultsClaim" .) -}}
{{- range .Values.environments -}}
{{- $ns := include "operator-argo.envNamespace" (dict "root" $ "env" .) -}}
{{- if ne $ns $.Release.Namespace -}}
{{- fail (printf "environment %q runs jobs in namespace %q, but local result storage is a volume claim in the release namespace %q, which job pods elsewhere cannot mount: run its jobs in %q or use storage.backend s3 or ipfs" .id $ns $.Release.Namespace $.Release.Namespace) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
