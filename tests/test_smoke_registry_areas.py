async def test_create_and_read_area(registry_client, admin_headers):
    r = await registry_client.post("/areas", json={"code": "IN-23", "name": "Madhya Pradesh"}, headers=admin_headers)
    assert r.status_code == 201, r.text
    r = await registry_client.get("/areas/IN-23", headers=admin_headers)
    assert r.json()["level"] == "state"
