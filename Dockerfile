# The xuncha API and CLI. Used by docker-compose.yml against Neo4j; works on its own with SQLite.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY graph graph
COPY loaders loaders
COPY api api
COPY visualizations visualizations
COPY cli cli
RUN pip install --no-cache-dir .
# Inside the container the API must listen on all interfaces; compose publishes it on 127.0.0.1 only.
ENV XUNCHA_API_HOST=0.0.0.0 XUNCHA_API_PORT=8000
EXPOSE 8000
CMD ["xuncha", "serve"]
