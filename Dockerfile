# The Ledger host. Built and run end to end by `make compose-test` (scripts/compose-test.sh, Podman) with this file
# unchanged; docs/operations.md, "Running from the images".
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# The packages first, in a layer of their own: a change to the code does not restore them again.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/Domain/Domain.csproj src/Domain/
COPY src/EventStore/EventStore.csproj src/EventStore/
COPY src/Projections/Projections.csproj src/Projections/
COPY src/Host/Host.csproj src/Host/
RUN dotnet restore src/Host
COPY proto/ proto/
COPY src/ src/
# No apphost (the entry point runs the dll), no IIS web.config. The .pdb files stay (0.5 MB): stack traces in the
# log keep their line numbers. Not trimmed by the IL linker: Marten, Wolverine and JasperFx find types by reflection.
RUN dotnet publish src/Host -c Release --no-restore -o /app -p:UseAppHost=false -p:IsTransformWebConfigDisabled=true \
 && rm -f /app/web.config

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
COPY ops/container/healthcheck.sh /usr/local/bin/ledger-healthcheck
ENV ASPNETCORE_URLS=http://0.0.0.0:5080
# gRPC's HTTP/2 endpoint (docs/grpc.md): cleartext inside the container network; put TLS in front of it outside.
ENV Ledger__Grpc__Url=http://0.0.0.0:5081
EXPOSE 5080 5081
# The base image's unprivileged user (app, uid 1654): the ledger needs no root, and writes nowhere in the image.
USER $APP_UID
# /health/ready: 503 while the database is unreachable, its schema behind, or the host still waiting for it at start.
# (Podman keeps a HEALTHCHECK only in docker-format images: `podman build --format docker`.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/ledger-healthcheck"]
ENTRYPOINT ["dotnet", "Ledger.Host.dll"]
