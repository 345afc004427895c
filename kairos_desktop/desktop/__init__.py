"""The desktop layer (tray, native notifications, panel window): the only place that may import
pystray, webview, desktop_notifier or PIL. Built in the DESKTOP issue."""
