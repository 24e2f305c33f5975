# The leaven frontend image: one static binary, nothing else.
FROM scratch
COPY leaven /leaven
# The frontend talks to BuildKit only over stdio; it never needs a network.
LABEL moby.buildkit.frontend.network.none="true"
LABEL org.opencontainers.image.title="leaven frontend"
ENTRYPOINT ["/leaven", "frontend"]
