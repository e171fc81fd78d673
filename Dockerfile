FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY . /tmp/src
RUN pip install /tmp/src && rm -rf /tmp/src

RUN useradd --create-home --uid 10001 crm
USER crm
# the working directory holds ./crm.db and ./.crm-secret when they are not configured
WORKDIR /home/crm

EXPOSE 8000
CMD ["crm", "serve", "--host", "0.0.0.0"]
