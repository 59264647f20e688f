# Image of the Youthlink API (and, from the search issue on, its worker).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY seeds ./seeds
COPY geodata ./geodata
COPY openapi ./openapi
RUN pip install --no-cache-dir . && useradd --system --uid 10001 youthlink
USER youthlink
EXPOSE 8000
CMD ["python", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
