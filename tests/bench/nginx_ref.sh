# tests/bench/nginx_ref.sh: the reference server every benchmark runs beside
# Cairn. Sourced, not run: nginx_ref_start WORK PORT HTTP_EXTRA LOCATION
# writes WORK/nginx/nginx.conf (no logs, temp files under WORK) with the
# extra http{} directives and the location{} block given, and starts nginx
# as a daemon whose pid file is WORK/nginx.pid (the callers' EXIT traps kill
# every WORK/*.pid).
nginx_ref_start() {
  _w=$1 _port=$2 _extra=$3 _loc=$4
  mkdir -p "$_w/nginx"
  cat >"$_w/nginx/nginx.conf" <<NGX
worker_processes auto;
pid $_w/nginx.pid;
error_log $_w/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $_w/nginx;
  proxy_temp_path $_w/nginx;
  fastcgi_temp_path $_w/nginx;
  uwsgi_temp_path $_w/nginx;
  scgi_temp_path $_w/nginx;
  $_extra
  server {
    listen 127.0.0.1:$_port;
    $_loc
  }
}
NGX
  nginx -c "$_w/nginx/nginx.conf" -p "$_w/nginx" -g 'daemon on;' 2>/dev/null
  sleep 0.5
}
