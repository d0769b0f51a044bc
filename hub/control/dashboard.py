from aiohttp import web

DASHBOARD = web.RouteTableDef()
