# Ledger: `make run` (ledger on http://127.0.0.1:5080 with its own PostgreSQL), `make test`, `make stop`.
SHELL := /bin/bash
URL   ?= http://127.0.0.1:5080
GRPC_URL ?= http://127.0.0.1:5081
PID   := .data/ledger.pid
HOSTDIR := src/Host/bin/Release/net10.0
# A development signing key for the log's checkpoints, made on the first `make run` (docs/operations.md: in
# production the key lives where the database's operators cannot read it).
AUDITKEY := $(CURDIR)/.data/audit/checkpoint-key.pem
# The optional RabbitMQ broker (`make broker`, `make run-with-broker`): its data and its AMQP port on loopback.
BROKER := $(CURDIR)/.data/rabbitmq
BROKER_PORT ?= 55672

.PHONY: run stop test build deps bench clean lint-openapi mutate codegen broker broker-stop run-with-broker cluster cluster-stop bench-cluster bench-console bench-tracing compose-test compose-clean ha ha-stop bench-ha

deps:
	@scripts/pg.sh ensure

build:
	dotnet build src/Host -c Release -nologo -v quiet

# Runs in the foreground; Ctrl-C stops the ledger, `make stop` also stops PostgreSQL.
# A second `make run` while one is running says so and leaves it alone; after a crash, a stale pid file is ignored.
run: build
	@if [ -f $(PID) ] && kill -0 $$(cat $(PID)) 2>/dev/null; then \
	  echo "Ledger is already running on $(URL) (pid $$(cat $(PID))); 'make stop' stops it."; \
	else \
	  scripts/pg.sh start && mkdir -p .data && \
	  echo "Ledger on $(URL), gRPC on $(GRPC_URL)  (Ctrl-C to stop; 'make stop' stops PostgreSQL too)" && \
	  echo $$$$ > $(PID) && export ConnectionStrings__Ledger="$$(scripts/pg.sh url)" ASPNETCORE_ENVIRONMENT=Development && \
	  export Ledger__Audit__SigningKeyFile=$(AUDITKEY) Ledger__Audit__CheckpointFile=$(CURDIR)/.data/audit/checkpoints.jsonl Ledger__Grpc__Url=$(GRPC_URL) && \
	  { [ -z "$(LEDGER_RABBITMQ_URI)" ] || export Ledger__RabbitMq__Uri="$(LEDGER_RABBITMQ_URI)"; } && \
	  cd $(HOSTDIR) && { [ -f $(AUDITKEY) ] || dotnet Ledger.Host.dll audit keygen --out $(AUDITKEY) >/dev/null; } && \
	  exec dotnet Ledger.Host.dll --urls $(URL); \
	fi

# Wolverine's handler code for the HTTP endpoints, generated ahead into src/Host/Internal/Generated (committed; the
# host loads it as compiled types). Run after changing an endpoint's signature; the specs fail at start-up otherwise.
codegen:
	cd src/Host && rm -rf Internal/Generated && ConnectionStrings__Ledger="Host=127.0.0.1;Database=codegen" dotnet run -- codegen write

# Optional: a RabbitMQ broker of Ledger's own on 127.0.0.1:$(BROKER_PORT) (installed with apt-get if missing), and the
# ledger publishing every payment event to its exchange ledger.events. `make stop` stops both.
broker:
	@scripts/rabbitmq.sh ensure && scripts/rabbitmq.sh start $(BROKER) $(BROKER_PORT) && echo "RabbitMQ on 127.0.0.1:$(BROKER_PORT) (guest/guest)"

run-with-broker: broker
	@$(MAKE) --no-print-directory run LEDGER_RABBITMQ_URI=$$(scripts/rabbitmq.sh url $(BROKER_PORT))

broker-stop:
	@scripts/rabbitmq.sh stop $(BROKER)

# Optional: 3 hosts behind HAProxy on http://127.0.0.1:$(CLUSTER_PORT), one PostgreSQL of their own (port +10), data and
# logs in .data/cluster (docs/operations.md, "Several hosts"). `make cluster-stop` (or `make stop`) stops it all.
CLUSTER := $(CURDIR)/.data/cluster
CLUSTER_PORT ?= 5090
cluster: build
	@scripts/cluster.sh start $(CLUSTER) 3 $(CLUSTER_PORT)

cluster-stop:
	@scripts/cluster.sh stop $(CLUSTER)

# Optional: the ledger on PostgreSQL with automatic failover (issue 20): pg_auto_failover's monitor on 127.0.0.1:$(HA_PORT),
# a primary and a synchronous standby on the next two ports (installed with apt-get if missing; data in .data/ha), the
# ledger in the foreground on $(URL) with both nodes in its connection string (docs/operations.md, "High availability").
# `make ha-stop` (or `make stop`) stops the nodes and the monitor; `scripts/ha.sh state .data/ha` shows them.
HA := $(CURDIR)/.data/ha
HA_PORT ?= 55440
ha: build
	@scripts/ha.sh ensure && scripts/ha.sh start $(HA) $(HA_PORT) $$(($(HA_PORT) + 1)) $$(($(HA_PORT) + 2)) && scripts/ha.sh state $(HA) && \
	  echo "Ledger on $(URL) over PostgreSQL with automatic failover (Ctrl-C to stop; 'make ha-stop' stops the database)" && \
	  mkdir -p .data && echo $$$$ > $(PID) && export ConnectionStrings__Ledger="$$(scripts/ha.sh url $(HA))" ASPNETCORE_ENVIRONMENT=Development \
	    Ledger__Database__SynchronousStandby=expected Ledger__Grpc__Url=$(GRPC_URL) && \
	  cd $(HOSTDIR) && exec dotnet Ledger.Host.dll --urls $(URL)

ha-stop:
	@scripts/ha.sh stop $(HA)

# The cluster scenario of the benchmark: 1, 2 and 3 hosts behind HAProxy, replica reads against primary reads.
bench-cluster: deps
	@scripts/cluster.sh ensure
	bench/cluster.sh

# The price of synchronous replication: charges on one PostgreSQL against pg_auto_failover's synchronous pair (issue 20).
bench-ha: deps
	bench/ha.sh

# The console's payments page for a merchant with 1,000,000 payments (docs/benchmarks.md, "The console").
bench-console: deps
	bench/console.sh

# What tracing costs charges: off, sampled at 0% and at 100% to an OTLP sink, ABCCBA (docs/benchmarks.md, "Tracing").
bench-tracing: deps
	bench/tracing.sh

stop:
	@if [ -f $(PID) ] && kill -0 $$(cat $(PID)) 2>/dev/null; then \
	  kill $$(cat $(PID)); for i in $$(seq 1 50); do kill -0 $$(cat $(PID)) 2>/dev/null || break; sleep 0.1; done; echo "Ledger stopped"; fi
	@rm -f $(PID)
	@scripts/rabbitmq.sh stop $(BROKER)
	@[ ! -d $(CLUSTER) ] || scripts/cluster.sh stop $(CLUSTER)
	@[ ! -d $(HA) ] || scripts/ha.sh stop $(HA)
	@scripts/pg.sh stop

# Every test; the tests start their own throwaway PostgreSQL (or use LEDGER_TEST_PG).
test: deps
	@scripts/browser.sh ensure
	@scripts/rabbitmq.sh ensure || echo "rabbitmq-server could not be installed: the broker specs will be skipped"
	@scripts/cluster.sh ensure || echo "haproxy could not be installed: the cluster specs will be skipped"
	@scripts/ha.sh ensure || echo "pg_auto_failover could not be installed: the failover specs will be skipped"
	@scripts/observability.sh ensure || echo "python3-prometheus-client or promtool could not be installed: the metrics specs will fail"
	dotnet test Ledger.sln -nologo

# The Dockerfile and docker-compose.yml under Podman, end to end (scripts/compose-test.sh; installs Podman with apt-get if
# missing, as root). compose-clean removes its storage, base images included.
compose-test:
	@scripts/compose-test.sh test

compose-clean:
	@scripts/compose-test.sh clean

# The OpenAPI document: Spectral with .spectral.yaml and Redocly's recommended rules (npx fetches both from the npm registry).
lint-openapi: deps
	dotnet test tests/Api.Tests -nologo --filter "FullyQualifiedName~OpenApiSpecs"

# Mutation testing (Stryker.NET, a local dotnet tool): the domain with its specs, then the idempotency and refund
# endpoints with the HTTP specs that cover them. Slow (minutes), so not part of `make test`; docs/testing.md has the scores.
mutate: deps
	dotnet tool restore
	cd tests/Domain.Tests && dotnet tool run dotnet-stryker -- --test-runner mtp --output $(CURDIR)/.data/mutation/domain
	cd tests/Api.Tests && dotnet tool run dotnet-stryker -- --test-runner mtp --output $(CURDIR)/.data/mutation/host

bench: deps
	bench/run.sh

clean:
	dotnet clean Ledger.sln -nologo -v quiet
