# The Ledger host. Not exercised on the development machines (no Docker engine there); see README.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Host -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
ENV ASPNETCORE_URLS=http://0.0.0.0:5080
# gRPC's HTTP/2 endpoint (docs/grpc.md): cleartext inside the container network; put TLS in front of it outside.
ENV Ledger__Grpc__Url=http://0.0.0.0:5081
EXPOSE 5080 5081
ENTRYPOINT ["dotnet", "Ledger.Host.dll"]
